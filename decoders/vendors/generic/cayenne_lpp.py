"""Cayenne Low Power Payload (``generic/cayenne-lpp``), keyed as The Things Stack keys it.

Frame: a sequence of ``channel (1 byte) | type (1 byte) | value`` records, big endian
(myDevices "Cayenne LPP" spec, IPSO object ids minus 3200). The classic types:

    type  name (TTS key)          size  value
    0x00  digital_in              1     uint8
    0x01  digital_out             1     uint8
    0x02  analog_in               2     int16 / 100
    0x03  analog_out              2     int16 / 100
    0x65  luminosity              2     uint16 lux
    0x66  presence                1     uint8
    0x67  temperature             2     int16 / 10 °C
    0x68  relative_humidity       1     uint8 / 2 %
    0x71  accelerometer           6     3 x int16 / 1000 g      -> {x, y, z}
    0x73  barometric_pressure     2     int16 / 10 hPa (signed, as go-cayenne-lib reads it)
    0x86  gyrometer               6     3 x int16 / 100 °/s     -> {x, y, z}
    0x88  gps                     9     3 x int24: lat / 1e4, lon / 1e4, alt / 100 m
                                        -> {latitude, longitude, altitude}

Keys are ``<name>_<channel>`` (``temperature_3``, ``gps_1``), exactly the keys of the
TTS CayenneLPP formatter's ``decoded_payload`` (lorawan-stack
``pkg/messageprocessors/cayennelpp``, using ``go-cayenne-lib``). As there, a repeated
``<name>_<channel>`` keeps the last value, an unknown type or a cut-off record fails the
whole payload, and an empty payload decodes to ``{}``.

One deliberate difference: go-cayenne-lib computes in float32, so TTS shows
``-15.600000381469727`` where we return ``-15.6`` (the value the device encoded).
``normalize`` rounds to each type's resolution, so both give identical readings.

Normalization: one reading per value with ``sensor`` = the channel number; outputs get
``sensor = "<channel>_out"`` (so ``digital_in_1`` and ``digital_out_1`` stay apart),
and three-axis values ``"<channel>_x"`` etc.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from decoders.base import Decoder, Normalized, Reading, as_number
from decoders.catalog import register
from decoders.errors import DecodeError, PayloadLengthError, UnsupportedPortError
from decoders.quantities import Quantity

Q = Quantity


def _s16(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 2], "big", signed=True)


def _s24(b: bytes, i: int) -> int:
    return int.from_bytes(b[i : i + 3], "big", signed=True)


@dataclass(frozen=True, kw_only=True, slots=True)
class LppType:
    """One LPP data type: TTS key, value size, value parser, normalization."""

    key: str
    size: int
    parse: Callable[[bytes], Any]
    quantity: Quantity
    #: decimals of the type's resolution (normalize rounds float32 noise away)
    decimals: int = 0
    #: sub-keys of a vector value (x/y/z, latitude/longitude/altitude)
    axes: tuple[str, ...] = ()
    output: bool = False


def _xyz(div: int) -> Callable[[bytes], dict[str, float]]:
    def parse(b: bytes) -> dict[str, float]:
        return {"x": _s16(b, 0) / div, "y": _s16(b, 2) / div, "z": _s16(b, 4) / div}

    return parse


def _gps(b: bytes) -> dict[str, float]:
    return {
        "latitude": _s24(b, 0) / 10000,
        "longitude": _s24(b, 3) / 10000,
        "altitude": _s24(b, 6) / 100,
    }


TYPES: dict[int, LppType] = {
    0x00: LppType(key="digital_in", size=1, parse=lambda b: b[0], quantity=Q.DIGITAL),
    0x01: LppType(key="digital_out", size=1, parse=lambda b: b[0], quantity=Q.DIGITAL, output=True),
    0x02: LppType(
        key="analog_in", size=2, parse=lambda b: _s16(b, 0) / 100, quantity=Q.ANALOG, decimals=2
    ),
    0x03: LppType(
        key="analog_out",
        size=2,
        parse=lambda b: _s16(b, 0) / 100,
        quantity=Q.ANALOG,
        decimals=2,
        output=True,
    ),
    0x65: LppType(
        key="luminosity",
        size=2,
        parse=lambda b: int.from_bytes(b[:2], "big"),
        quantity=Q.ILLUMINANCE,
    ),
    0x66: LppType(key="presence", size=1, parse=lambda b: b[0], quantity=Q.PRESENCE),
    0x67: LppType(
        key="temperature",
        size=2,
        parse=lambda b: _s16(b, 0) / 10,
        quantity=Q.TEMPERATURE,
        decimals=1,
    ),
    0x68: LppType(
        key="relative_humidity",
        size=1,
        parse=lambda b: b[0] / 2,
        quantity=Q.RELATIVE_HUMIDITY,
        decimals=1,
    ),
    0x71: LppType(
        key="accelerometer",
        size=6,
        parse=_xyz(1000),
        quantity=Q.ACCELERATION,
        decimals=3,
        axes=("x", "y", "z"),
    ),
    0x73: LppType(
        key="barometric_pressure",
        size=2,
        parse=lambda b: _s16(b, 0) / 10,
        quantity=Q.ATMOSPHERIC_PRESSURE,
        decimals=1,
    ),
    0x86: LppType(
        key="gyrometer",
        size=6,
        parse=_xyz(100),
        quantity=Q.ANGULAR_VELOCITY,
        decimals=2,
        axes=("x", "y", "z"),
    ),
    0x88: LppType(
        key="gps",
        size=9,
        parse=_gps,
        quantity=Q.LATITUDE,  # unused: the GPS axes map to three quantities below
        decimals=4,
        axes=("latitude", "longitude", "altitude"),
    ),
}

BY_KEY: dict[str, LppType] = {t.key: t for t in TYPES.values()}

_GPS_AXES: dict[str, tuple[Quantity, int]] = {
    "latitude": (Q.LATITUDE, 4),
    "longitude": (Q.LONGITUDE, 4),
    "altitude": (Q.ALTITUDE, 2),
}

_KEY_RE = re.compile(r"^(?P<name>[a-z_]+)_(?P<channel>\d{1,3})$")


def decode_lpp(payload: bytes) -> dict[str, Any]:
    """Decode an LPP frame into TTS's ``decoded_payload`` dict."""
    out: dict[str, Any] = {}
    pos = 0
    n = len(payload)
    while pos < n:
        if n - pos < 2:
            raise PayloadLengthError(
                f"Cayenne LPP record at offset {pos} is cut off: need channel and type "
                f"(2 bytes), have {n - pos}"
            )
        channel, type_id = payload[pos], payload[pos + 1]
        lpp = TYPES.get(type_id)
        if lpp is None:
            raise DecodeError(
                f"Cayenne LPP: unknown type 0x{type_id:02X} on channel {channel} at offset {pos}"
            )
        start = pos + 2
        if n - start < lpp.size:
            raise PayloadLengthError(
                f"Cayenne LPP {lpp.key} on channel {channel} needs {lpp.size} byte"
                f"{'s' if lpp.size != 1 else ''} at offset {start}, have {n - start}"
            )
        out[f"{lpp.key}_{channel}"] = lpp.parse(payload[start : start + lpp.size])
        pos = start + lpp.size
    return out


#: ChirpStack v4's built-in Cayenne LPP codec nests values by channel under these keys
#: (chirpstack/src/codec/cayenne_lpp.rs ``to_struct``): ``{"temperatureSensor": {"3": 27.2}}``
CHIRPSTACK_KEYS = {
    "digitalInput": "digital_in",
    "digitalOutput": "digital_out",
    "analogInput": "analog_in",
    "analogOutput": "analog_out",
    "illuminanceSensor": "luminosity",
    "presenceSensor": "presence",
    "temperatureSensor": "temperature",
    "humiditySensor": "relative_humidity",
    "accelerometer": "accelerometer",
    "barometer": "barometric_pressure",
    "gyrometer": "gyrometer",
    "gpsLocation": "gps",
}


def is_chirpstack_lpp(decoded: Mapping[str, Any]) -> bool:
    """True for a non-empty object in ChirpStack's Cayenne LPP shape."""
    return bool(decoded) and all(
        k in CHIRPSTACK_KEYS and isinstance(v, Mapping) for k, v in decoded.items()
    )


def from_chirpstack(decoded: Mapping[str, Any]) -> dict[str, Any]:
    """ChirpStack's LPP object -> the TTS-keyed dict (``temperature_3``) this module uses."""
    return {
        f"{CHIRPSTACK_KEYS[kind]}_{channel}": value
        for kind, channels in decoded.items()
        for channel, value in channels.items()
    }


def normalize_lpp(decoded: Mapping[str, Any]) -> Normalized:
    """TTS-style LPP dict -> readings, ``sensor`` = channel (see module docstring).

    ChirpStack's nested LPP object is accepted too (converted by :func:`from_chirpstack`)."""
    if is_chirpstack_lpp(decoded):
        decoded = from_chirpstack(decoded)
    readings: list[Reading] = []
    warnings: list[str] = []
    ignored: list[str] = []
    for key, raw in decoded.items():
        m = _KEY_RE.match(key)
        lpp = BY_KEY.get(m["name"]) if m else None
        if m is None or lpp is None:
            ignored.append(key)
            continue
        channel = m["channel"]
        if not lpp.axes:
            num = as_number(raw)
            if num is None or isinstance(raw, bool):
                warnings.append(f"{key}: not a number ({raw!r})")
                continue
            sensor = f"{channel}_out" if lpp.output else channel
            readings.append(
                Reading(quantity=lpp.quantity, value=round(num, lpp.decimals), sensor=sensor)
            )
            continue
        if not isinstance(raw, Mapping):
            warnings.append(f"{key}: expected an object with {', '.join(lpp.axes)}")
            continue
        for axis in lpp.axes:
            num = as_number(raw.get(axis))
            if num is None:
                warnings.append(f"{key}.{axis}: missing or not a number")
                continue
            if lpp.key == "gps":
                quantity, decimals = _GPS_AXES[axis]
                sensor = channel
            else:
                quantity, decimals = lpp.quantity, lpp.decimals
                sensor = f"{channel}_{axis}"
            readings.append(Reading(quantity=quantity, value=round(num, decimals), sensor=sensor))
    if ignored:
        warnings.append("keys that are not Cayenne LPP ignored: " + ", ".join(sorted(ignored)))
    return Normalized(readings=tuple(readings), warnings=tuple(warnings))


@register
class CayenneLpp(Decoder):
    model_ids = ("generic/cayenne-lpp",)
    vendor = "Generic"
    model_name = "Cayenne LPP (classic types)"
    category = "environment"
    ports = (1, 2)  # any application port; these are the usual ones
    description = "Cayenne Low Power Payload, keyed as The Things Stack's CayenneLPP formatter"

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if f_port == 0:
            raise UnsupportedPortError(
                "Cayenne LPP: port 0 carries MAC commands, not application data"
            )
        return decode_lpp(payload)

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        return normalize_lpp(decoded)
