"""Bosch Parking Lot Sensor TPS110 (``bosch/tps110``).

Implemented from the codec of the TTN Device Repository (``vendor/bosch/tps110.yaml``,
firmware 0.29.2 -> ``tps110-0292-codec.yaml`` -> ``tpl110-0292.js``; firmware 0.23.3
has no codec there). Frames, all with the vendor's key names:

* port 1 parking status: bit 0 of byte 0 -> ``occupied``
* port 2 heartbeat: ``occupied`` (byte 0 bit 0); byte 1, when sent, ``temperature``
  (signed, °C)
* port 3 start-up (17 bytes): three debug codes (12 bits, little endian, in bytes 0-1,
  4-5, 8-9; zero means none), firmware version bytes 12-14, reset cause byte 15
  (1 watchdog, 2 power on, 3 system request, 4 other; any other value leaves the key
  out, as the codec's ``undefined`` does), ``occupied`` byte 16 bit 0
* port 4 device information, port 5 device usage: the raw bytes (``bytes``)
* port 6 debug (10 bytes): ``timestamp`` u32 little endian read as a signed 32-bit
  number (JavaScript bit operations), ``debugCode`` (12 bits, bytes 4-5),
  ``sequenceNumber`` u16 little endian (bytes 8-9)

Stricter than the JavaScript, which reads past the end (``NaN``) or returns ``{}``
for other ports: a frame shorter than the fields it reads, an empty frame or an
unknown port is a DecodeError.

Normalization: ``occupied`` -> occupied (1/0), ``temperature`` -> temperature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from decoders._bits import require_min_length
from decoders.base import Decoder, Field
from decoders.catalog import register
from decoders.errors import UnsupportedPortError
from decoders.quantities import Quantity

MODEL = "TPS110"

RESET_CAUSES: dict[int, str] = {
    1: "watchdog",
    2: "power on",
    3: "system request",
    4: "other",
}


def _debug_code(b: bytes, i: int) -> int:
    return ((b[i + 1] & 0x0F) << 8) | b[i]


@register
class TPS110(Decoder):
    model_ids = ("bosch/tps110",)
    vendor = "Bosch"
    model_name = "TPS110 Parking Lot Sensor"
    category = "traffic"
    ports = (1, 2, 3, 4, 5, 6)
    description = "Magnetic parking space sensor: occupancy and temperature."
    fields = (
        Field(key="occupied", quantity=Quantity.OCCUPIED),
        Field(key="temperature", quantity=Quantity.TEMPERATURE),
    )

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        b = payload
        if f_port == 1:
            require_min_length(b, 1, model=MODEL, f_port=f_port)
            return {"type": "parking status", "occupied": bool(b[0] & 1)}
        if f_port == 2:
            require_min_length(b, 1, model=MODEL, f_port=f_port)
            out: dict[str, Any] = {"type": "heartbeat", "occupied": bool(b[0] & 1)}
            if len(b) >= 2:
                out["temperature"] = b[1] - 0x100 if b[1] & 0x80 else b[1]
            return out
        if f_port == 3:
            require_min_length(b, 17, model=MODEL, f_port=f_port)
            out = {
                "type": "startup",
                "debugCodes": [c for i in (0, 4, 8) if (c := _debug_code(b, i))],
                "firmwareVersion": f"{b[12]}.{b[13]}.{b[14]}",
            }
            cause = RESET_CAUSES.get(b[15])
            if cause is not None:
                out["resetCause"] = cause
            out["occupied"] = bool(b[16] & 1)
            return out
        if f_port == 4:
            return {"type": "device information", "bytes": list(b)}
        if f_port == 5:
            return {"type": "device usage", "bytes": list(b)}
        if f_port == 6:
            require_min_length(b, 10, model=MODEL, f_port=f_port)
            return {
                "type": "debug",
                "timestamp": int.from_bytes(b[0:4], "little", signed=True),
                "debugCode": _debug_code(b, 4),
                "sequenceNumber": (b[9] << 8) | b[8],
            }
        raise UnsupportedPortError(
            f"{MODEL}: unknown port {f_port} (the sensor sends on ports 1-6)"
        )
