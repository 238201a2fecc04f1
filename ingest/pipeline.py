"""Uplink -> decoder -> validated readings -> points (+ the registry record).

Pure and synchronous: one call per broker message, no I/O. The service around it
(ingest/service.py) does the buffering, writing and acknowledging.

Every message ends as exactly one outcome:

* ``stored``   an uplink whose readings (or at least its radio metadata) are written
* ``ignored``  a recognised event that carries no readings (join, ack, up/normalized, ...)
* ``rejected`` malformed, undecodable, or no decoder for it — the reason is kept;
               an undecodable uplink still writes its ``lorawan_uplink`` radio point
               and goes to the journal, so it can be re-decoded later.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

import decoders
from decoders.base import Normalized, Reading
from decoders.catalog import NATIVE, DecoderCatalog
from decoders.errors import CodecUnavailableError
from decoders.normalized import merge, normalize_measurements
from decoders.quantities import CATALOGUE, Quantity
from ingest.envelopes import parse
from ingest.envelopes.base import check_json_bounds
from ingest.models import DeviceEvent, Gateway, RawMessage, Uplink
from ingest.timepolicy import TimePolicy
from lorawan_monitor.errors import (
    DecodeError,
    EnvelopeError,
    ImplausibleTimeError,
    TooLargeError,
)
from storage.base import Point, to_ns
from storage.lineprotocol import escape_key, line, tag_pairs
from storage.registry_base import DecodeStatus, DeviceMeta, UplinkRecord

Outcome = Literal["stored", "ignored", "rejected"]
#: the plain string of each quantity (``Quantity.x.value`` is a slow descriptor on the hot path)
_QV: dict[Quantity, str] = {q: q.value for q in Quantity}
#: per quantity: its string and the catalogue's plausible range (one look-up per reading)
_LIMITS: dict[Quantity, tuple[str, float, float]] = {
    q: (q.value, CATALOGUE[q].min, CATALOGUE[q].max) for q in CATALOGUE
}
UPLINK_MEASUREMENT = "lorawan_uplink"
_VERSION_KEYS = frozenset(("firmware_version", "hardware_version", "band_id"))
LOCATION_MEASUREMENT = "device_location"


@dataclass(slots=True)
class ProcessResult:
    outcome: Outcome
    reason: str
    message: str | None = None
    #: line-protocol lines, one per point (sorted tags: byte-identical for a replay)
    points: list[str] = field(default_factory=list)
    record: UplinkRecord | None = None
    event: DeviceEvent | None = None
    device_key: str | None = None
    model_id: str | None = None


def _tag_halves(tags: Mapping[str, str], split: str) -> tuple[str, str]:
    """Escaped ``k=v`` pairs sorted by key, split around ``split`` (empty values dropped).

    Called once per device and status (:class:`_TagSet` keeps the result)."""
    head = ",".join(tag_pairs({k: v for k, v in tags.items() if k < split}))
    tail = ",".join(tag_pairs({k: v for k, v in tags.items() if k > split}))
    return head, tail


class _TagSet:
    """A device's tags as line protocol wants them, built once per device (not per uplink):
    the sorted ``k=v`` pairs before and after ``sensor`` (reading points), and the whole
    set with ``decode_status`` (``lorawan_uplink``)."""

    __slots__ = ("head", "tags", "tail", "_prefixes", "_uplink")

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags
        self.head, self.tail = _tag_halves(tags, "sensor")
        self._uplink: dict[tuple[str, str], str] = {}
        #: (measurement, sensor) -> the reading line up to its value: ``m,tags value=``
        self._prefixes: dict[tuple[str, str], str] = {}

    def prefix(self, measurement: str, sensor: str) -> str:
        """A reading point's line up to the value (built once per device and series)."""
        key = (measurement, sensor)
        hit = self._prefixes.get(key)
        if hit is None:
            if len(self._prefixes) >= 256:  # bounded: sensor labels come from payloads
                self._prefixes.clear()
            hit = self._prefixes[key] = _reading_prefix(measurement, self.head, self.tail, sensor)
        return hit

    @classmethod
    def build(cls, base: dict[str, str], extra: tuple[tuple[str, str], ...]) -> _TagSet:
        for k, v in extra:
            base.setdefault(k, v)
        return cls(base)

    def uplink_tags(self, status: str, source: str) -> str:
        """The tags of ``lorawan_uplink``: the device's, ``decode_status`` and, with
        several sources (``LORAWAN_SOURCES``), ``source``: the name of the source it came
        through (#16). The one ``LORAWAN_MQTT__*`` broker ("") adds no tag, so a
        single-source installation keeps the series (and the idempotent overwrite of a
        replayed uplink) it had before sources existed."""
        hit = self._uplink.get((status, source))
        if hit is None:
            extra = (
                {"decode_status": status, "source": source} if source else {"decode_status": status}
            )
            # every tag, also keys sorting after "~" such as "über" (#11)
            hit = self._uplink[(status, source)] = ",".join(tag_pairs({**self.tags, **extra}))
        return hit


def _reading_prefix(measurement: str, head: str, tail: str, sensor: str) -> str:
    """A reading point up to its value: ``measurement,<sorted tags> value=``; the line is
    this, ``repr(float(value))``, a space and the time in ns."""
    tags = head
    if sensor:
        tags = f"{tags},sensor={escape_key(sensor)}" if tags else f"sensor={escape_key(sensor)}"
    if tail:
        tags = f"{tags},{tail}" if tags else tail
    return f"{measurement},{tags} value=" if tags else f"{measurement} value="


def device_key(dev_eui: str | None, source: str, application: str, device_id: str) -> str:
    return dev_eui.upper() if dev_eui else f"{source}:{application}/{device_id}"


_ns = to_ns  # exact also before 1970 (#11)


class Pipeline:
    def __init__(
        self,
        *,
        decoder_catalog: DecoderCatalog = NATIVE,
        meta_lookup: Callable[[str], DeviceMeta | None] | None = None,
        envelope: Literal["tts", "chirpstack", "chirpstack-v3", "auto"] = "auto",
        default_site: str = "",
        drop_simulated: bool = False,
        time_policy: TimePolicy | None = None,
        max_message_bytes: int = 262_144,
        max_decoded_depth: int = 32,
        max_decoded_items: int = 2000,
    ) -> None:
        self.decoders = decoder_catalog
        self.meta_lookup = meta_lookup or (lambda _key: None)
        self.envelope = envelope
        self.default_site = default_site
        self.drop_simulated = drop_simulated
        self.time_policy = time_policy or TimePolicy()
        self.max_message_bytes = max_message_bytes
        self.max_decoded_depth = max_decoded_depth
        self.max_decoded_items = max_decoded_items
        #: per device: the coordinates last written to ``device_location``
        self._located: dict[str, tuple[float, float]] = {}
        #: per device identity and tags: the escaped, sorted tag strings
        self._tagsets: dict[tuple[Any, ...], _TagSet] = {}

    def process(self, raw: RawMessage) -> ProcessResult:
        try:
            if len(raw.payload) > self.max_message_bytes:
                raise TooLargeError(
                    f"message of {len(raw.payload)} bytes, more than the"
                    f" {self.max_message_bytes} accepted (LORAWAN_INGEST__MAX_MESSAGE_BYTES)"
                )
            parsed = parse(raw.topic, raw.payload, self.envelope, received=raw.received)
            if isinstance(parsed, Uplink) and parsed.lns_decoded is not None:
                check_json_bounds(
                    parsed.lns_decoded,
                    "the network server's decoded payload",
                    max_depth=self.max_decoded_depth,
                    max_items=self.max_decoded_items,
                )
        except EnvelopeError as exc:
            return ProcessResult(outcome="rejected", reason=exc.reason, message=str(exc))
        now_ns = int(raw.received * 1e9) if raw.received else time.time_ns()
        if isinstance(parsed, DeviceEvent):
            if parsed.time is not None and not self.time_policy.plausible(parsed.time, now_ns):
                parsed = msgspec.structs.replace(parsed, time=None)  # never a battery/log time
            key = device_key(parsed.dev_eui, parsed.source, parsed.application, parsed.device_id)
            return ProcessResult(
                outcome="ignored", reason=parsed.kind, event=parsed, device_key=key
            )
        if parsed.simulated and self.drop_simulated:
            return ProcessResult(outcome="ignored", reason="simulated")
        return self.process_uplink(parsed, now_ns=now_ns, source=raw.source)

    # -- uplinks ---------------------------------------------------------------------

    def _checked_time(self, up: Uplink, now_ns: int) -> tuple[Uplink, str | None]:
        """The uplink with a plausible ``received_at``: its own, else the server time.

        Raises EnvelopeError(``implausible_time``) when neither is plausible."""
        policy = self.time_policy
        if policy.plausible_ns(_ns(up.received_at), now_ns):
            return up, None
        note = policy.describe(up.received_at, now_ns)
        alt = up.server_time
        if alt is not None and policy.plausible(alt, now_ns):
            fixed = msgspec.structs.replace(up, received_at=alt)
            return fixed, f"uplink {note}: used the network server time {alt.isoformat()}"
        raise ImplausibleTimeError(f"uplink {note}")

    def process_uplink(
        self, up: Uplink, *, now_ns: int | None = None, source: str = ""
    ) -> ProcessResult:
        """One uplink; ``source`` names the source it came through ("" = the one
        ``LORAWAN_MQTT__*`` broker: no ``source`` tag on its points)."""
        if now_ns is None:
            now_ns = time.time_ns()
        try:
            up, time_note = self._checked_time(up, now_ns)
        except EnvelopeError as exc:
            return ProcessResult(outcome="rejected", reason=exc.reason, message=str(exc))
        key = device_key(up.dev_eui, up.source, up.application, up.device_id)
        meta = self.meta_lookup(key)
        model_id = (meta.model_override if meta else None) or up.model_id
        variables: Mapping[str, Any] = (meta.variables if meta and meta.variables else {}) or {}
        # TTS version_ids, else ChirpStack device tags of the same names (#13)
        versions = up.version_ids or {k: v for k, v in up.tags.items() if k in _VERSION_KEYS}
        decoder = self.decoders.find(model_id, versions)

        readings: tuple[Reading, ...] = ()
        warnings: list[str] = [time_note] if time_note else []
        decoded: dict[str, Any] | None = None
        error: str | None = None
        used: str | None = None
        status: DecodeStatus
        outcome: Outcome = "stored"
        reason = "uplink"

        if not up.payload or up.f_port == 0 or up.encrypted:
            status = "no_payload"
            reason = "no_payload"
        elif decoder is not None and model_id is not None:
            try:
                res = decoders.decode(
                    model_id,
                    up.payload,
                    up.f_port,
                    variables,
                    catalog=self.decoders,
                    recv_time=up.received_at,
                    decoder=decoder,
                )
                readings, decoded, status = res.readings, res.decoded, "decoded"
                warnings.extend(res.warnings)
                used = f"native:{model_id}"
                if up.lns_decoded:
                    warnings.extend(self._compare(model_id, readings, up.lns_decoded))
            except DecodeError as exc:
                error = str(exc)
                if up.lns_decoded is not None or up.lns_normalized is not None:
                    n, decoded, status, used = self._from_lns(model_id, up)
                    readings = n.readings
                    warnings.append(f"our decoder failed ({error}); used the network server's")
                    warnings.extend(n.warnings)
                else:
                    status = "codec_error" if isinstance(exc, CodecUnavailableError) else "error"
                    outcome, reason = "rejected", exc.reason
        elif up.lns_decoded is not None or up.lns_normalized is not None:
            n, decoded, status, used = self._from_lns(model_id, up)
            readings = n.readings
            warnings.extend(n.warnings)
        else:
            status, outcome, reason = "no_decoder", "rejected", "no_decoder"
            error = (
                f"no decoder for model {model_id!r}" if model_id else "device model unknown"
            ) + " and the network server sent no decoded payload"

        category = (meta.category if meta and meta.category else None) or (
            decoder.category if decoder is not None else ""
        )
        site = (meta.site if meta and meta.site else None) or self.default_site
        extra = tuple(meta.tags.items()) if meta and meta.tags else ()
        # registry name for the dashboards' legends (one per device: no extra series)
        name = (meta.name if meta and meta.name else None) or up.device_id
        ident = (up.device_id, up.dev_eui, up.application, model_id, category, site, name, extra)
        tagset = self._tagsets.get(ident)
        if tagset is None:
            tagset = self._tagsets[ident] = _TagSet.build(
                {
                    "device": up.device_id,
                    "dev_eui": (up.dev_eui or "").upper(),
                    "application": up.application,
                    "model": model_id or "",
                    "category": category,
                    "site": site,
                    "name": name,
                },
                extra,
            )
            if len(self._tagsets) > 65536:  # bounded: devices come and go
                self._tagsets.clear()
                self._tagsets[ident] = tagset
        tags = tagset.tags
        t_ns = _ns(up.received_at)
        # range checks and the reading points in one pass (no intermediate objects, #19)
        points, kept = self._reading_points(readings, warnings, now_ns, tagset, t_ns)
        gws = up.gateways
        if len(gws) == 1:  # the common case, without the property's list
            best = gws[0] if gws[0].rssi is not None else None
        else:
            best = up.best_gateway
        points.append(self._uplink_line(up, best, tagset.uplink_tags(status, source), status, t_ns))
        if meta is not None and meta.latitude is not None and meta.longitude is not None:
            where = (meta.latitude, meta.longitude)
            if self._located.get(key) != where:
                self._located[key] = where
                points.append(
                    line(
                        Point(
                            measurement=LOCATION_MEASUREMENT,
                            tags=tags,
                            fields={"latitude": float(where[0]), "longitude": float(where[1])},
                            time_ns=t_ns,
                        )
                    )
                )
        record = UplinkRecord(
            device_key=key,
            dev_eui=up.dev_eui,
            device_id=up.device_id,
            application=up.application,
            source=up.source,
            received_at=up.received_at,
            f_port=up.f_port,
            f_cnt=up.f_cnt,
            payload=up.payload,
            model_id=model_id,
            decoder=used,
            status=status,
            error=error,
            decoded=decoded,
            warnings=tuple(warnings),
            readings=kept,
            gateways=tuple({"gateway_id": g.gateway_id, "rssi": g.rssi, "snr": g.snr} for g in gws),
            rssi=best.rssi if best else None,
            snr=best.snr if best else None,
            spreading_factor=up.radio.spreading_factor,
            frequency=up.radio.frequency,
            gateway_count=len(gws),
            uplink_id=up.uplink_id,
            device_profile=up.device_profile,
            device_name=up.device_name,
            source_name=source or None,
        )
        return ProcessResult(
            outcome=outcome,
            reason=reason,
            message=error,
            points=points,
            record=record,
            device_key=key,
            model_id=model_id,
        )

    @staticmethod
    def _uplink_line(up: Uplink, best: Gateway | None, head: str, status: str, t_ns: int) -> str:
        """The ``lorawan_uplink`` point; fields sorted by name, all floats.

        No frame-counter gap field: with several workers on a shared subscription no
        process sees all of a device's uplinks. The dashboards take the gaps from the
        stored ``f_cnt`` sequence instead (``dashboards.influxql.fcnt_steps``), and the
        registry counts missed frames across workers."""
        r = up.radio
        gws = up.gateways
        snr = None
        for g in gws:
            if g.snr is not None and (snr is None or g.snr > snr):
                snr = g.snr
        # fields sorted by name; None is left out; every value as a float
        body = f"airtime={float(r.airtime)!r}," if r.airtime is not None else ""
        body += (
            "decode_ok=1.0"
            if status in ("decoded", "lns_decoded", "lns_normalized")
            else "decode_ok=0.0"
        )
        body += f",f_cnt={float(up.f_cnt)!r},f_port={float(up.f_port)!r}"
        if r.frequency is not None:
            body += f",frequency={float(r.frequency)!r}"
        body += f",gateway_count={float(len(gws))!r},payload_size={float(len(up.payload))!r}"
        if best is not None and best.rssi is not None:
            body += f",rssi={float(best.rssi)!r}"
        if snr is not None:
            body += f",snr={float(snr)!r}"
        if r.spreading_factor is not None:
            body += f",spreading_factor={float(r.spreading_factor)!r}"
        return (
            f"{UPLINK_MEASUREMENT},{head} {body} {t_ns}"
            if head
            else f"{UPLINK_MEASUREMENT} {body} {t_ns}"
        )

    def _from_lns(
        self, model_id: str | None, up: Uplink
    ) -> tuple[Normalized, dict[str, Any], DecodeStatus, str]:
        """Readings from what the network server decoded (#13).

        TTS ``normalized_payload`` (the Device Repository's schema, fixed units) wins;
        ``decoded_payload`` adds the quantities the normalized payload lacks, as before.
        """
        from_decoded = (
            decoders.normalize(model_id, up.lns_decoded, catalog=self.decoders)
            if up.lns_decoded is not None
            else None
        )
        if up.lns_normalized is None:
            assert from_decoded is not None and up.lns_decoded is not None
            return from_decoded, up.lns_decoded, "lns_decoded", "lns"
        n = normalize_measurements(up.lns_normalized)
        if from_decoded is not None:
            n = merge(n, from_decoded)
        # both kept, under TTS's own names, so that a re-decode finds them again
        decoded: dict[str, Any] = {"normalized_payload": list(up.lns_normalized)}
        if up.lns_decoded is not None:
            decoded["decoded_payload"] = dict(up.lns_decoded)
        return n, decoded, "lns_normalized", "lns:normalized"

    def _reading_points(
        self,
        readings: tuple[Reading, ...],
        warnings: list[str],
        now_ns: int,
        tagset: _TagSet,
        t_ns: int,
    ) -> tuple[list[str], tuple[tuple[str, str, float], ...]]:
        """The reading points and the kept readings as (quantity, sensor, value).

        Drops non-finite / out-of-range readings, readings with an implausible time of
        their own, and duplicate series, with warnings."""
        points: list[str] = []
        kept: list[tuple[str, str, float]] = []
        seen: set[tuple[str, str, Any]] = set()
        policy = self.time_policy
        for r in readings:
            qv, low, high = _LIMITS[r.quantity]
            when = r.time
            if when is not None and not policy.plausible_reading(when, now_ns):
                warnings.append(f"{qv}: {policy.describe(when, now_ns)}, dropped")
                continue
            value = r.value
            if not math.isfinite(value):
                warnings.append(f"{qv}: not a finite number, dropped")
                continue
            if not low <= value <= high:
                info = CATALOGUE[r.quantity]
                label = f"{qv}[{r.sensor}]" if r.sensor else qv
                warnings.append(
                    f"{label}={value:g} {info.unit} outside {info.min:g}..{info.max:g}, dropped"
                )
                continue
            ident = (qv, r.sensor, when)
            if ident in seen:
                warnings.append(f"{qv}: reported twice without a sensor label, kept the first")
                continue
            seen.add(ident)
            kept.append((qv, r.sensor, value))
            points.append(
                f"{tagset.prefix(qv, r.sensor)}{float(value)!r}"
                f" {_ns(when) if when is not None else t_ns}"
            )
        return points, tuple(kept)

    def _compare(
        self, model_id: str, ours: tuple[Reading, ...], lns: Mapping[str, Any]
    ) -> list[str]:
        """Readings the network server's decoder disagrees on (a finding for installers)."""
        try:
            theirs = decoders.normalize(model_id, lns, catalog=self.decoders).readings
        except Exception:  # a broken LNS payload must not cost our readings
            return ["the network server's decoded payload could not be normalized"]
        mine = {(r.quantity, r.sensor): r.value for r in ours}
        out = []
        for r in theirs:
            v = mine.get((r.quantity, r.sensor))
            if v is not None and abs(v - r.value) > 1e-3 + 1e-6 * abs(v):
                label = f"{r.quantity.value}[{r.sensor}]" if r.sensor else r.quantity.value
                out.append(f"network server decoded {label}={r.value:g}, we decoded {v:g}")
        return out
