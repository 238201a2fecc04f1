"""What the network-server envelope builders share: gateways, time and id formats."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

Message = tuple[str, bytes]
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, kw_only=True)
class GatewayRx:
    """One gateway's reception of an uplink."""

    gateway_id: str
    eui: str  # 16 hex digits
    rssi: int = -85
    snr: float = 7.5
    channel: int = 0
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None


DEFAULT_GATEWAYS = (
    GatewayRx(gateway_id="sim-gw-1", eui="B827EBFFFE000001", rssi=-85, snr=7.5, channel=1),
)


# --- formatting -------------------------------------------------------------------------


def rfc3339(when: datetime, *, z: bool = True) -> str:
    """UTC with 0, 3 or 6 fractional digits, ``Z`` (TTS, Go) or ``+00:00`` (ChirpStack)."""
    when = when.astimezone(UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    us = when.microsecond
    if us:
        text += f".{us // 1000:03d}" if us % 1000 == 0 else f".{us:06d}"
    return text + ("Z" if z else "+00:00")


def pb_duration(seconds: float) -> str:
    """Protobuf JSON duration with 0/3/6/9 fractional digits: ``"0.205824s"``."""
    ns = round(seconds * 1e9)
    whole, frac = divmod(ns, 1_000_000_000)
    if frac == 0:
        return f"{whole}s"
    for digits, unit in ((3, 1_000_000), (6, 1_000)):
        if frac % unit == 0:
            return f"{whole}.{frac // unit:0{digits}d}s"
    return f"{whole}.{frac:09d}s"


def digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()


def ulid(when: datetime, *seed: object) -> str:
    """A ULID (48-bit ms time + 80 bits) whose random part is a hash of ``seed``."""
    value = (int(when.timestamp() * 1000) << 80) | int.from_bytes(digest(*seed)[:10], "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


def uuid4_from(*seed: object) -> str:
    return str(uuid.UUID(bytes=digest(*seed)[:16], version=4))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def dump(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def as_f64(value: Any) -> Any:
    """What ChirpStack's JS codec output becomes: every number an f64 (``776`` -> ``776.0``)."""
    if isinstance(value, dict):
        return {k: as_f64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_f64(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
