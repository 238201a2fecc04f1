"""A decoder running one vendor JavaScript codec (TS013 ``decodeUplink`` or ChirpStack
v3 ``Decode``) in its own V8 isolate (:mod:`decoders.js.engine`); and the stand-in for a
codec that cannot run."""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException

from decoders.base import Decoder, Field, Normalized, normalize_table
from decoders.common_keys import normalize_common
from decoders.errors import CodecError, CodecUnavailableError
from decoders.js.engine import LOAD_TIMEOUT_S, NEEDS_CJS, Isolate, codec_script
from decoders.js_mapping import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_MS, Interface
from decoders.normalized import merge, normalize_measurements
from lorawan_monitor.errors import ConfigError

log = logging.getLogger(__name__)

_FUNCTION = {"ts013": "decodeUplink", "chirpstack-v3": "Decode"}


class CodecData(dict[str, Any]):
    """The codec's ``data`` object; a plain dict plus the codec's own warnings and, for a
    codec with ``normalizeUplink``, its normalized output (repository schema)."""

    codec_warnings: tuple[str, ...] = ()
    normalized: dict[str, Any] | list[Any] | None = None


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
        self._source = source
        self._lines = source.count("\n") + 1
        self._cjs = False
        self._script = self._codec_script()
        self._loc = re.compile(r"(?<![\w.-])" + re.escape(filename) + r":(\d+):\d+")
        self._isolate = self._build()
        try:
            found = self._detect()
            if self._needs_cjs(found):
                # written for CommonJS (assigns module.exports without checking): load again
                # with a module object, as only such a codec needs it
                self._isolate.close()
                self._cjs = True
                self._script = self._codec_script()
                self._isolate = self._build()
                found = self._detect()
            if isinstance(found, JSEvalException):
                raise found
        except JSEvalException as exc:
            self._isolate.close()
            raise ConfigError(f"{filename}: top-level code failed: {self._js_msg(exc)}") from exc
        available = found.split()
        #: the codec defines normalizeUplink (TTN Device Repository codecs): decode runs it
        self.has_normalize = "normalize" in available
        available = [a for a in available if a != "normalize"]
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

    def _codec_script(self) -> str:
        return codec_script(self._source, self.filename, cjs=self._cjs)

    def _detect(self) -> str | JSEvalException:
        """The functions the codec defines, or the exception its top-level code raised."""
        try:
            return str(
                self._isolate.mr.eval(
                    "__lm_detect()", timeout_sec=max(self.timeout_s, LOAD_TIMEOUT_S)
                )
            )
        except JSEvalException as exc:
            return exc

    def _needs_cjs(self, found: str | JSEvalException) -> bool:
        return (
            not self._cjs
            and isinstance(found, JSEvalException)
            and bool(NEEDS_CJS.search(str(found)))
        )

    def _build(self) -> Isolate:
        try:
            return Isolate(
                self._script, memory_mb=self.memory_mb, timeout_s=self.timeout_s, cjs=self._cjs
            )
        except JSEvalException as exc:
            raise ConfigError(f"{self.filename}: cannot be compiled: {self._js_msg(exc)}") from exc

    def _codec_line(self, text: str) -> str | None:
        """The first line of the codec file in a V8 message or stack, if any.

        Only lines that exist in the file count: the harness has its own sourceURL, so a
        frame outside the codec never blames one of its lines."""
        for m in self._loc.finditer(text):
            if 1 <= int(m[1]) <= self._lines:
                return m[1]
        return None

    def _js_msg(self, exc: BaseException) -> str:
        text = str(exc).strip()
        line = self._codec_line(text)
        first = text.splitlines()[0] if text else type(exc).__name__
        # mini-racer's parse errors read "<file>:3: SyntaxError: ..."
        first = re.sub(r"^" + re.escape(self.filename) + r":\d+:\s*", "", first)
        return f"{first} at line {line} of {self.filename}" if line else first

    def close(self) -> None:
        """Free the V8 isolate (also happens when the decoder is garbage collected)."""
        with self._lock:
            self._isolate.close()

    def _call(self, args: str) -> dict[str, Any]:
        normalize = "true" if self.has_normalize and self.interface == "ts013" else "false"
        expr = f"__lm_run({json.dumps(self.interface)}, {args}, {normalize})"
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

    def decode_received(
        self,
        payload: bytes,
        f_port: int,
        variables: Mapping[str, Any] | None = None,
        *,
        recv_time: datetime,
    ) -> dict[str, Any]:
        return self.decode(payload, f_port, variables, recv_time=recv_time)

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
            raise CodecError(self._thrown(out))
        result = out.get("result")
        if self.interface == "chirpstack-v3":
            if not isinstance(result, dict):
                raise CodecError(f"Decode returned {_describe(result)}, expected an object")
            return CodecData(result)
        data = self._ts013(result)
        if "normalize_error" in out:
            data.codec_warnings += (f"codec: {self._thrown(out['normalize_error'])}",)
        elif "normalized" in out:
            self._normalized(data, out["normalized"])
        return data

    def _thrown(self, out: Mapping[str, Any]) -> str:
        msg = str(out["error"])
        line = self._codec_line(str(out.get("stack", "")))
        if line:
            return f"{msg} at line {line} of {self.filename}"
        return msg if msg.startswith(self.function) else f"{self.function} {msg}"

    @staticmethod
    def _normalized(data: CodecData, result: Any) -> None:
        """Keep normalizeUplink's ``data`` (one measurement or a list) with the decoded dict."""
        if not isinstance(result, dict):
            data.codec_warnings += (f"codec: normalizeUplink returned {_describe(result)}",)
            return
        errors = result.get("errors")
        if errors:
            shown = "; ".join(map(str, errors)) if isinstance(errors, list) else str(errors)
            data.codec_warnings += (f"codec: normalizeUplink returned errors: {shown}",)
            return
        warnings = result.get("warnings") or []
        data.codec_warnings += tuple(
            f"codec: {w}" for w in (warnings if isinstance(warnings, list) else [warnings])
        )
        normalized = result.get("data")
        if isinstance(normalized, dict | list):
            data.normalized = normalized

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
        """Mapped keys by the codec's table; then the codec's normalizeUplink output
        (repository schema, :mod:`decoders.normalized`) for quantities the table lacks;
        then common key names for what is still missing."""
        explicit = normalize_table(decoded, self.fields)
        out = Normalized(
            readings=explicit.readings,
            warnings=tuple(getattr(decoded, "codec_warnings", ())) + explicit.warnings,
        )
        normalized = getattr(decoded, "normalized", None)
        if normalized is not None:
            out = merge(out, normalize_measurements(normalized))
        if self.common_keys:
            covered = {f.key.split(".")[0] for f in self.fields}
            rest = {k: v for k, v in decoded.items() if k not in covered}
            common = normalize_common(rest)
            finite = Normalized(
                readings=tuple(r for r in common.readings if math.isfinite(r.value)),
                warnings=common.warnings,
            )
            out = (
                merge(out, finite)
                if normalized is not None
                else Normalized(
                    readings=out.readings + finite.readings, warnings=out.warnings + finite.warnings
                )
            )
        return out


class BrokenCodec(Decoder):
    """Stands in for a codec that cannot run (did not compile, top-level code threw, the
    Device Repository could not resolve it): every decode raises
    :class:`CodecUnavailableError` with the reason, so its devices get decode status
    ``codec_error`` while every other codec keeps working."""

    kind: ClassVar[str] = "javascript (disabled)"
    model_ids: ClassVar[tuple[str, ...]] = ()

    def __init__(self, error: str) -> None:
        self.error = error

    @classmethod
    def create(
        cls, error: str, *, model_ids: tuple[str, ...] = (), vendor: str = "", name: str = ""
    ) -> BrokenCodec:
        """An instance whose listing metadata (class attributes) name the problem."""
        attrs: dict[str, Any] = {
            "model_ids": model_ids,
            "vendor": vendor,
            "model_name": name or (model_ids[0] if model_ids else ""),
            "description": f"disabled: {error}",
        }
        return cast(BrokenCodec, type(f"BrokenCodec<{name}>", (cls,), attrs)(error))

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        raise CodecUnavailableError(f"codec disabled: {self.error}")

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        """A network server's decoded payload for this model: common key names, as a
        working codec without a mapping would normalize it."""
        return normalize_common(decoded)
