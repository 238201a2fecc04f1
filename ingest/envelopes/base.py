"""Shared helpers for the envelope parsers: strict, cheap field access on untrusted JSON.

Every helper raises :class:`EnvelopeError` with a message naming the field
("TTS uplink: uplink_message.frm_payload is not base64"); foreign exceptions are
chained with ``raise ... from exc``. The parsers build plain dicts and validate them
against the ``Uplink`` / ``DeviceEvent`` structs once (``build``: ``msgspec.convert``), so
type validation of the leaves (rssi, snr, ...) happens in msgspec's C code, not in
Python. The Things Stack's uplinks take a faster way when they are well-formed
(ingest/envelopes/tts_fast.py) and this one when they are not, for its messages.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import msgspec
import orjson

from ingest.models import DeviceEvent, Uplink
from lorawan_monitor.errors import EnvelopeError, OutOfRangeError, TooLargeError

# the radio arithmetic lives in the shared ground (the simulator uses it too); re-exported
from lorawan_monitor.radio import lora_data_rate as lora_data_rate
from lorawan_monitor.radio import lora_from_data_rate as lora_from_data_rate

Parsed = Uplink | DeviceEvent
JsonObj = dict[str, Any]
M = TypeVar("M", Uplink, DeviceEvent)

#: msgspec's "Expected `int` <= 255 - at `$.f_port`": the message and the path
_MSGSPEC_ERROR = re.compile(r"(?s)(.*?)(?: - at `\$(.*)`)?")
_HEX16 = re.compile(r"[0-9A-Fa-f]{16}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: TTN Device Repository id: ``brand/model``, lower case
_MODEL_ID = re.compile(r"[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*")


class Envelope(Protocol):
    """One network server's envelope: parse(topic, payload) -> Uplink | DeviceEvent."""

    def __call__(self, topic: str, payload: bytes, received: float | None = None) -> Parsed: ...


def load_object(payload: bytes, label: str) -> JsonObj:
    """Parse JSON and require an object at the top."""
    try:
        msg = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"{label}: not valid JSON ({exc})") from exc
    if type(msg) is not dict:
        raise EnvelopeError(f"{label}: expected a JSON object, got {type(msg).__name__}")
    return msg


def sub(parent: JsonObj, key: str, label: str) -> JsonObj:
    """An optional nested object; missing or null gives ``{}``."""
    value = parent.get(key)
    if value is None:
        return {}
    if type(value) is not dict:
        raise EnvelopeError(f"{label}: {key} must be an object, got {type(value).__name__}")
    return value


def req_sub(parent: JsonObj, key: str, label: str) -> JsonObj:
    value = parent.get(key)
    if type(value) is not dict:
        if value is None:
            raise EnvelopeError(f"{label}: missing {key}")
        raise EnvelopeError(f"{label}: {key} must be an object, got {type(value).__name__}")
    return value


def items(parent: JsonObj, key: str, label: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if type(value) is not list:
        raise EnvelopeError(f"{label}: {key} must be a list, got {type(value).__name__}")
    return value


def req_str(parent: JsonObj, key: str, label: str) -> str:
    value = parent.get(key)
    if type(value) is not str or not value:
        if value is None or value == "":
            raise EnvelopeError(f"{label}: missing {key}")
        raise EnvelopeError(f"{label}: {key} must be a string, got {type(value).__name__}")
    return value


def opt_str(parent: JsonObj, key: str, label: str) -> str | None:
    value = parent.get(key)
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise EnvelopeError(f"{label}: {key} must be a string, got {type(value).__name__}")
    return value


def to_int(value: Any, what: str, label: str) -> int:
    """An integer given as number or (64-bit, TTS/protojson) as decimal string."""
    if type(value) is int:
        return value
    if type(value) is str:
        try:
            return int(value)
        except ValueError as exc:
            raise EnvelopeError(f"{label}: {what} is not an integer: {value!r}") from exc
    if type(value) is float and value.is_integer():
        return int(value)
    raise EnvelopeError(f"{label}: {what} must be an integer, got {type(value).__name__}")


def opt_int(parent: JsonObj, key: str, label: str, default: int | None = 0) -> int | None:
    value = parent.get(key)
    if value is None:
        return default
    return to_int(value, key, label)


def b64(value: Any, what: str, label: str) -> bytes:
    """Standard base64 with padding; missing/null/"" is empty."""
    if value is None or value == "":
        return b""
    if type(value) is bytes:  # protobuf messages carry the bytes themselves
        return value
    if type(value) is not str:
        raise EnvelopeError(f"{label}: {what} must be a base64 string, got {type(value).__name__}")
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError(f"{label}: {what} is not base64 ({exc})") from exc


def timestamp(value: Any, what: str, label: str) -> datetime:
    """RFC 3339 with an offset (``Z`` or ``+00:00``), 0-9 fractional digits."""
    if type(value) is datetime:  # from a protobuf Timestamp
        return value
    if type(value) is not str:
        raise EnvelopeError(f"{label}: {what} must be an RFC 3339 string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise EnvelopeError(f"{label}: {what} is not an RFC 3339 time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise EnvelopeError(f"{label}: {what} has no UTC offset: {value!r}")
    return parsed


def opt_timestamp(value: Any) -> datetime | None:
    """A fallback time: parsed when it is a valid RFC 3339 time, else None (never an error:
    a broken fallback must not cost an uplink whose main time is fine)."""
    if value is None:
        return None
    try:
        return timestamp(value, "", "")
    except EnvelopeError:
        return None


def check_json_bounds(value: Any, what: str, *, max_depth: int, max_items: int) -> None:
    """A decoded object within bounds: nesting depth, number of values, integers that fit
    64 bits (orjson reads 1,024 levels but writes 254 and no bigger integers, so an
    unbounded object could not be journaled: it took its whole chunk with it, #11)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    items_seen = 0
    while stack:
        v, depth = stack.pop()
        t = type(v)
        if t is dict or t is list:
            if depth > max_depth:
                raise TooLargeError(f"{what} nested deeper than {max_depth} levels")
            items_seen += len(v)
            if items_seen > max_items:
                raise TooLargeError(f"{what} has more than {max_items} values")
            children = v.values() if t is dict else v
            stack.extend((c, depth + 1) for c in children)
        elif t is int and not -(2**63) <= v < 2**64:
            raise OutOfRangeError(f"{what} holds an integer beyond 64 bits: {str(v)[:30]}")


def from_unix(received: float | None, label: str) -> datetime:
    if received is None:
        raise EnvelopeError(f"{label}: no server time in the message and no receive time given")
    return datetime.fromtimestamp(received, UTC)


def duration(value: Any, what: str, label: str) -> float | None:
    """Protobuf JSON duration ``"0.066816s"`` -> seconds."""
    if value is None:
        return None
    if type(value) is str and value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            pass
    raise EnvelopeError(f"{label}: {what} is not a duration: {value!r}")


def eui(value: Any, what: str, label: str) -> str:
    """16 hex characters -> upper case."""
    if type(value) is not str or not _HEX16.fullmatch(value):
        raise EnvelopeError(f"{label}: {what} is not a 16-digit hex EUI: {value!r}")
    return value.upper()


def is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def model_id_like(value: str | None) -> str | None:
    """``value`` when it is a Device Repository id ``brand/model`` (lower case), else None."""
    if value and _MODEL_ID.fullmatch(value):
        return value
    return None


def location(loc: Any) -> JsonObj:
    """Gateway coordinates as Gateway fields; (0, 0) and missing are dropped."""
    if type(loc) is not dict:
        return {}
    lat, lon = loc.get("latitude"), loc.get("longitude")
    if lat is None or lon is None or (lat == 0 and lon == 0):
        return {}
    return {"latitude": lat, "longitude": lon, "altitude": loc.get("altitude")}


def coding_rate(value: Any) -> str | None:
    """``"4/5"`` as is; ChirpStack enum names ``CR_4_5`` -> ``"4/5"``, ``CR_LI_4_8`` -> ``"4/8LI"``."""
    if type(value) is not str or not value:
        return None
    if value.startswith("CR_"):
        parts = value[3:].split("_")
        if parts[0] == "LI":  # long-interleaving coding rates
            return "/".join(parts[1:]) + "LI" if len(parts) == 3 else None
        return "/".join(parts) if len(parts) == 2 else None
    return value


def build(model: type[M], fields: JsonObj, label: str) -> M:
    """Validate once against the struct's declared types and constraints (msgspec, lax as
    pydantic was: ``"5"`` is an integer); its error becomes one EnvelopeError naming the
    field, ``TooLargeError`` for an overlong name or map, ``OutOfRangeError`` for a bound."""
    try:
        return msgspec.convert(fields, model, strict=False)
    except msgspec.ValidationError as exc:
        raise validation_error(exc, label) from exc


def validation_error(exc: msgspec.ValidationError, label: str) -> EnvelopeError:
    """msgspec's message ("Expected `int` <= 255 - at `$.f_port`") as our error class."""
    m = _MSGSPEC_ERROR.fullmatch(str(exc))
    assert m is not None  # the pattern matches every string
    msg, path = m.group(1), m.group(2) or ""
    where = path.lstrip(".").replace("[", ".").replace("]", "") or "message"
    if " of length " in msg:
        return TooLargeError(f"{label}: {where} too long: {msg}")
    if "Expected `int` >" in msg or "Expected `int` <" in msg or "out of range" in msg:
        return OutOfRangeError(f"{label}: {where} out of range: {msg}")
    return EnvelopeError(f"{label}: invalid {where}: {msg}")


def check_same(topic_value: str, payload_value: str, what: str, field: str, label: str) -> None:
    """The topic and the payload must name the same thing (case-insensitive)."""
    if topic_value != payload_value and topic_value.lower() != payload_value.lower():
        raise EnvelopeError(f"{label}: topic {what} {topic_value!r} != {field} {payload_value!r}")
