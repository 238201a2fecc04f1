"""Vendor JavaScript codecs (The Things Stack / ChirpStack) run in an embedded V8.

Two interfaces, as the network servers call them:

* ``ts013`` - LoRa Alliance TS013 payload codec API, used by The Things Stack and
  ChirpStack v4: ``decodeUplink({bytes, fPort, recvTime, variables})`` returns
  ``{data, warnings, errors}``.
* ``chirpstack-v3`` - ``Decode(fPort, bytes, variables)`` returns the object itself.

Each codec gets its own V8 isolate (``mini-racer``), compiled once, with a time limit
per call (default 100 ms) and a memory limit (default 64 MB, soft limit at 3/4).
A call that misses the time limit is retried once (the limit is wall-clock time, which
a loaded machine can eat); a second timeout, a throw, a memory overrun, non-empty
``errors``, missing ``data`` or a non-object / non-JSON return raises
:class:`CodecError` with the JS message and the codec's line
("decodeUplink threw: TypeError: ... at line 3 of acme.js").

State between calls: the codec file's top-level code runs afresh for every call
(wrapped in a function, so ``var``/``let``/``const``/``function`` declarations start
from their initial values), much as ChirpStack v4 starts a fresh QuickJS runtime per
call (chirpstack/src/codec/js/mod.rs). Only *implicit* globals (assignment to an undeclared name,
``globalThis.x = ...``) persist between calls of the same codec; codecs never share an
isolate, and the isolate is rebuilt after a memory overrun.

Codec ``warnings`` travel with the decoded dict (a :class:`CodecData`, a ``dict``
subclass) and come out of ``normalize`` as warnings.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, cast

from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException, MiniRacer

from decoders.base import Decoder, Field, Normalized, normalize_table
from decoders.common_keys import normalize_common
from decoders.errors import CodecError
from decoders.js_mapping import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_MS,
    MAPPING_FILE,
    CodecEntry,
    Interface,
    load_mapping,
)
from decoders.registry import NATIVE, DecoderRegistry
from lorawan_monitor.errors import ConfigError

log = logging.getLogger(__name__)

#: loading (compiling, first run of the top-level code) may take longer than a call
LOAD_TIMEOUT_S = 1.0

_FUNCTION = {"ts013": "decodeUplink", "chirpstack-v3": "Decode"}

# The harness: the codec source is wrapped in a factory function whose header sits on
# the source's first line, so V8's line numbers are the file's line numbers.
_PREFIX = "var __lm_factory = function (exports, module) {"
_SUFFIX = """
;return {
  decodeUplink: typeof decodeUplink === "function" ? decodeUplink : module.exports.decodeUplink,
  Decode: typeof Decode === "function" ? Decode : module.exports.Decode
};
};
var __lm_fns = function () { var ex = {}; return __lm_factory(ex, {exports: ex}); };
var __lm_err = function (where, e) {
  var msg;
  if (e instanceof Error) { msg = e.name + ": " + e.message; }
  else if (typeof e === "string") { msg = e; }
  else { try { msg = JSON.stringify(e); } catch (x) { msg = String(e); } }
  return JSON.stringify({error: where + " threw: " + msg, stack: e && e.stack ? String(e.stack) : ""});
};
var __lm_detect = function () {
  var f = __lm_fns();
  return (typeof f.decodeUplink === "function" ? "ts013 " : "") +
         (typeof f.Decode === "function" ? "chirpstack-v3" : "");
};
var __lm_run = function (iface, input) {
  var f, r;
  try { f = __lm_fns(); } catch (e) { return __lm_err("the codec's top-level code", e); }
  try {
    if (iface === "ts013") {
      input.recvTime = new Date(input.recvTime);
      r = f.decodeUplink(input);
    } else {
      r = f.Decode(input.fPort, input.bytes, input.variables);
    }
  } catch (e) { return __lm_err(iface === "ts013" ? "decodeUplink" : "Decode", e); }
  try {
    return JSON.stringify({result: r === undefined ? null : r});
  } catch (e) {
    return JSON.stringify({error: "returned a value that is not JSON (" + String(e).split("\\n")[0] + ")"});
  }
};
"""


class CodecData(dict[str, Any]):
    """The codec's ``data`` object; a plain dict plus the codec's own warnings."""

    codec_warnings: tuple[str, ...] = ()


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value})"
    return type(value).__name__


class _Isolate:
    """One V8 isolate holding one compiled codec. Not thread-safe; the decoder locks."""

    def __init__(self, script: str, *, memory_mb: int, timeout_s: float) -> None:
        # Build the isolate in a helper thread: MiniRacer binds to the *running* asyncio
        # loop of the calling thread if there is one, and then cannot enforce timeouts
        # when called from that loop. A thread without a loop gets a private loop.
        with ThreadPoolExecutor(max_workers=1) as pool:
            self.mr = pool.submit(MiniRacer).result()
        limit = memory_mb * 1024 * 1024
        self.mr.set_hard_memory_limit(limit)
        self.mr.set_soft_memory_limit(limit * 3 // 4)
        self.mr.eval(script, timeout_sec=max(timeout_s, LOAD_TIMEOUT_S))

    def close(self) -> None:
        # a call cancelled by a timeout is still reported to mini-racer's loop; a
        # trivial call queued behind it makes sure that happened before the loop stops
        with suppress(Exception):
            self.mr.eval("0", timeout_sec=1.0)
        self.mr.close()


class JsCodecDecoder(Decoder):
    """A :class:`Decoder` running one vendor JavaScript codec file.

    Build with :meth:`from_source` (metadata becomes class attributes, as for native
    decoders) or :func:`load_codecs` (from a codecs folder).
    """

    model_ids: ClassVar[tuple[str, ...]] = ()
    kind: ClassVar[str] = "javascript"
    #: decoders.decode(..., recv_time=...) passes the receive time on (TS013 recvTime)
    takes_recv_time: ClassVar[bool] = True
    common_keys: ClassVar[bool] = True

    def __init__(
        self,
        source: str,
        *,
        filename: str = "codec.js",
        interface: Interface | None = None,
        timeout_ms: float = DEFAULT_TIMEOUT_MS,
        memory_mb: int = DEFAULT_MEMORY_MB,
    ) -> None:
        self.filename = filename
        self.timeout_s = timeout_ms / 1000
        self.timeout_ms = timeout_ms
        self.memory_mb = memory_mb
        self._lock = threading.Lock()
        self._script = f"{_PREFIX}{source}{_SUFFIX}//# sourceURL={filename}\n"
        self._loc = re.compile(re.escape(filename) + r":(\d+):\d+")
        self._isolate = self._build()
        try:
            found = str(
                self._isolate.mr.eval(
                    "__lm_detect()", timeout_sec=max(self.timeout_s, LOAD_TIMEOUT_S)
                )
            )
        except JSEvalException as exc:
            self._isolate.close()
            raise ConfigError(f"{filename}: top-level code failed: {self._js_msg(exc)}") from exc
        available = found.split()
        if interface is None:
            if not available:
                self._isolate.close()
                raise ConfigError(
                    f"{filename}: defines neither decodeUplink (TS013 / The Things Stack / "
                    "ChirpStack v4) nor Decode (ChirpStack v3)"
                )
            interface = cast(Interface, available[0])
        elif interface not in available:
            self._isolate.close()
            raise ConfigError(
                f"{filename}: interface {interface} needs a function {_FUNCTION[interface]}, "
                "which the file does not define"
            )
        self.interface: Interface = interface
        self.function = _FUNCTION[interface]

    @classmethod
    def from_source(
        cls,
        source: str,
        *,
        model_ids: tuple[str, ...] = (),
        filename: str = "codec.js",
        interface: Interface | None = None,
        timeout_ms: float = DEFAULT_TIMEOUT_MS,
        memory_mb: int = DEFAULT_MEMORY_MB,
        fields: tuple[Field, ...] = (),
        common_keys: bool = True,
        vendor: str = "",
        model_name: str = "",
        category: str = "environment",
        ports: tuple[int, ...] = (),
        description: str = "",
    ) -> JsCodecDecoder:
        """Compile ``source`` into a decoder whose metadata are class attributes."""
        attrs: dict[str, Any] = {
            "model_ids": model_ids,
            "fields": fields,
            "common_keys": common_keys,
            "vendor": vendor,
            "model_name": model_name or (model_ids[0] if model_ids else filename),
            "category": category,
            "ports": ports,
            "description": description,
        }
        sub = type(f"JsCodec<{filename}>", (cls,), attrs)
        return cast(
            JsCodecDecoder,
            sub(
                source,
                filename=filename,
                interface=interface,
                timeout_ms=timeout_ms,
                memory_mb=memory_mb,
            ),
        )

    # -- engine ----------------------------------------------------------------------

    def _build(self) -> _Isolate:
        try:
            return _Isolate(self._script, memory_mb=self.memory_mb, timeout_s=self.timeout_s)
        except JSEvalException as exc:
            raise ConfigError(f"{self.filename}: cannot be compiled: {self._js_msg(exc)}") from exc

    def _js_msg(self, exc: BaseException) -> str:
        text = str(exc).strip()
        m = self._loc.search(text)
        first = text.splitlines()[0] if text else type(exc).__name__
        # mini-racer's parse errors read "<file>:3: SyntaxError: ..."
        first = re.sub(r"^" + re.escape(self.filename) + r":\d+:\s*", "", first)
        return f"{first} at line {m[1]} of {self.filename}" if m else first

    def close(self) -> None:
        """Free the V8 isolate (also happens when the decoder is garbage collected)."""
        with self._lock:
            self._isolate.close()

    def _call(self, args: str) -> dict[str, Any]:
        expr = f"__lm_run({json.dumps(self.interface)}, {args})"
        with self._lock:
            for attempt in (1, 2):
                try:
                    out = self._isolate.mr.eval(expr, timeout_sec=self.timeout_s)
                    break
                except JSTimeoutException as exc:
                    # V8 still reports the cancelled call to mini-racer's loop; a trivial
                    # call queued behind it makes sure that has happened, so closing the
                    # isolate right afterwards is safe.
                    with suppress(JSEvalException):
                        self._isolate.mr.eval("0", timeout_sec=1.0)
                    # the limit is wall-clock time: on a loaded machine a short call can
                    # miss it once, so a call is only given up after a second timeout
                    if attempt == 1:
                        log.debug("%s: timed out once, retrying", self.filename)
                        continue
                    raise CodecError(
                        f"{self.function} did not return within {self.timeout_ms:g} ms "
                        f"(endless loop?) in {self.filename}"
                    ) from exc
                except JSOOMException as exc:
                    # the heap may still be full: start this codec again from its source
                    self._isolate.close()
                    self._isolate = self._build()
                    raise CodecError(
                        f"{self.function} exceeded the {self.memory_mb} MB memory limit "
                        f"in {self.filename}"
                    ) from exc
                except JSEvalException as exc:
                    raise CodecError(f"{self.function} failed: {self._js_msg(exc)}") from exc
        if not isinstance(out, str):
            raise CodecError(f"{self.function}: unexpected engine result {_describe(out)}")
        parsed: dict[str, Any] = json.loads(out)
        return parsed

    # -- Decoder ---------------------------------------------------------------------

    def decode(
        self,
        payload: bytes,
        f_port: int,
        variables: Mapping[str, Any] | None = None,
        *,
        recv_time: datetime | None = None,
    ) -> dict[str, Any]:
        """Run the codec. ``recv_time`` defaults to now (codecs rarely read it)."""
        when = recv_time or datetime.now(UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        try:
            args = json.dumps(
                {
                    "bytes": list(payload),
                    "fPort": f_port,
                    "recvTime": when.isoformat(),
                    "variables": dict(variables or {}),
                },
                allow_nan=False,
            )
        except (TypeError, ValueError) as exc:
            raise CodecError(f"variables cannot be passed to JavaScript ({exc})") from exc
        out = self._call(args)
        if "error" in out:
            msg = str(out["error"])
            m = self._loc.search(str(out.get("stack", "")))
            if m:
                msg += f" at line {m[1]} of {self.filename}"
            elif not msg.startswith(self.function):
                msg = f"{self.function} {msg}"
            raise CodecError(msg)
        result = out.get("result")
        if self.interface == "chirpstack-v3":
            if not isinstance(result, dict):
                raise CodecError(f"Decode returned {_describe(result)}, expected an object")
            return CodecData(result)
        return self._ts013(result)

    def _ts013(self, result: Any) -> CodecData:
        if not isinstance(result, dict):
            raise CodecError(
                f"decodeUplink returned {_describe(result)}, expected an object "
                "{data, warnings, errors}"
            )
        errors = result.get("errors")
        if isinstance(errors, str):
            errors = [errors]
        if errors:
            shown = "; ".join(str(e) for e in errors) if isinstance(errors, list) else str(errors)
            raise CodecError(f"decodeUplink returned errors: {shown}")
        data = result.get("data")
        if not isinstance(data, dict):
            what = "no data" if data is None else f"data that is {_describe(data)}"
            raise CodecError(f"decodeUplink returned {what}, expected an object")
        warnings = result.get("warnings") or []
        if not isinstance(warnings, list):
            warnings = [warnings]
        out = CodecData(data)
        out.codec_warnings = tuple(f"codec: {w}" for w in warnings)
        return out

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        """Mapped keys by the codec's table; the others by common key names."""
        explicit = normalize_table(decoded, self.fields)
        readings = list(explicit.readings)
        warnings = list(getattr(decoded, "codec_warnings", ()))
        warnings.extend(explicit.warnings)
        if self.common_keys:
            covered = {f.key.split(".")[0] for f in self.fields}
            rest = {k: v for k, v in decoded.items() if k not in covered}
            common = normalize_common(rest)
            readings.extend(r for r in common.readings if math.isfinite(r.value))
            warnings.extend(common.warnings)
        return Normalized(readings=tuple(readings), warnings=tuple(warnings))


def codec_from_entry(entry: CodecEntry) -> JsCodecDecoder:
    return JsCodecDecoder.from_source(
        entry.source,
        model_ids=entry.model_ids,
        filename=entry.file.name,
        interface=entry.interface,
        timeout_ms=entry.timeout_ms,
        memory_mb=entry.memory_mb,
        fields=entry.fields,
        common_keys=entry.common_keys,
        vendor=entry.vendor,
        model_name=entry.model_name,
        category=entry.category,
        ports=entry.ports,
        description=entry.description,
    )


def load_codecs(folder: Path | str, *, base: DecoderRegistry = NATIVE) -> DecoderRegistry:
    """A copy of ``base`` (the native registry) with the folder's JS codecs added.

    A codec may take a native model id only when its mapping says ``override: true``.
    Raises ConfigError naming the file and the problem.
    """
    folder = Path(folder)
    entries = load_mapping(folder)
    mapped = {e.file.name for e in entries}
    for stray in sorted(p.name for p in folder.glob("*.js")):
        if stray not in mapped:
            log.warning("codec %s is not listed in %s; ignored", folder / stray, MAPPING_FILE)
    registry = base.copy()
    for entry in entries:
        for model_id in entry.model_ids:
            if model_id in base and not entry.override:
                raise ConfigError(
                    f"{folder / MAPPING_FILE}: {entry.file.name} maps {model_id!r}, which has a "
                    "native decoder; set 'override: true' to replace it"
                )
    for entry in entries:
        decoder = codec_from_entry(entry)
        for model_id in entry.model_ids:
            registry.add(model_id, decoder, replace=True)
    return registry


__all__ = ["CodecData", "JsCodecDecoder", "codec_from_entry", "load_codecs"]
