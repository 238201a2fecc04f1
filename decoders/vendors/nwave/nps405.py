"""Nwave NPS405 parking sensor (``nwave/nps405fm`` flush mount, ``nwave/nps405sm`` surface mount).

Both ids use one codec (TTN Device Repository ``vendor/nwave/nps405.js``, examples in
``nps405-codec.yaml``):

* port 1 parking status: bit 0 occupied, bits 1-7 compressed previous-state duration
  (< 90 as is; 90-119 -> 90 + 5 n, error 4; 120-126 -> 240 + 60 n, error 59; 127 overflow)
* port 2 heartbeat: occupied (bit 0), ``hw_health_status`` = byte 0 & 0x7F (as the codec
  does), battery 2500 + 4 * raw mV, temperature s8 / 2 + 10 °C, battery health from the
  vendor's temperature-dependent thresholds
* port 3 startup (+ occupied in byte 4); port 6 debug; port 10 SDI tag registration:
  status byte, tag battery (raw / 10 V), 32-bit tag id in hex. Port 10 follows the
  repository's published example (6 bytes); the older codec text had no tag battery.

Normalization: occupied -> occupied (1/0), temperature, battery_voltage; the tag's battery
-> battery_voltage with sensor ``tag``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from decoders.base import Decoder, Field
from decoders.catalog import register
from decoders.errors import UnsupportedPortError
from decoders.quantities import Quantity
from decoders.vendors.nwave._common import battery_mv, need, startup


def previous_state(compressed: int) -> dict[str, Any]:
    if compressed < 90:
        duration, error, overflow = compressed, 0, False
    elif compressed < 120:
        duration, error, overflow = 90 + (compressed - 90) * 5, 4, False
    elif compressed < 127:
        duration, error, overflow = 240 + (compressed - 120) * 60, 59, False
    else:
        duration, error, overflow = 660, None, True
    return {
        "previous_state_duration": duration,
        "previous_state_duration_error": error,
        "previous_state_duration_overflow": overflow,
    }


def _int32_hex(b: bytes) -> str:
    v = int.from_bytes(b, "big", signed=True)  # JS bit operations are signed 32-bit
    return ("-" if v < 0 else "") + f"{abs(v):X}"


@register
class NPS405(Decoder):
    model_ids = ("nwave/nps405fm", "nwave/nps405sm")
    vendor = "Nwave"
    model_name = "NPS405 parking sensor"
    category = "traffic"
    ports = (1, 2, 3, 6, 10)
    fields = (
        Field(key="occupied", quantity=Quantity.OCCUPIED),
        Field(key="temperature", quantity=Quantity.TEMPERATURE),
        Field(key="battery_voltage", quantity=Quantity.BATTERY_VOLTAGE),
        Field(key="tag_battery_voltage", quantity=Quantity.BATTERY_VOLTAGE, sensor="tag"),
    )

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        model = "NPS405"
        if f_port == 1:
            need(payload, 1, model, f_port)
            return {
                "type": "parking_status",
                "occupied": bool(payload[0] & 1),
                **previous_state((payload[0] >> 1) & 0x7F),
            }
        if f_port == 2:
            need(payload, 3, model, f_port)
            temperature = int.from_bytes(payload[2:3], "big", signed=True) / 2 + 10
            mv = battery_mv(payload[1])
            low, critical = (3000, 2900) if temperature >= -5 else (2900, 2800)
            health = "normal" if mv >= low else "low" if mv >= critical else "critical"
            return {
                "type": "heartbeat",
                "occupied": bool(payload[0] & 1),
                "hw_health_status": payload[0] & 0x7F,
                "temperature": temperature,
                "battery_voltage": mv / 1000,
                "battery_health": health,
            }
        if f_port == 3:
            need(payload, 5, model, f_port)
            return {**startup(payload), "occupied": bool(payload[4] & 1)}
        if f_port == 6:
            return {"type": "debug", "bytes": list(payload)}
        if f_port == 10:
            need(payload, 6, model, f_port)
            out: dict[str, Any] = {"type": "user_registration"}
            if payload[0] & 1:
                out["occupied"] = True
                out.update(previous_state((payload[0] >> 1) & 0x7F))
            else:
                out.update(
                    occupied=None,
                    previous_state_duration=None,
                    previous_state_duration_error=None,
                    previous_state_duration_overflow=None,
                )
            out["tag_battery_voltage"] = payload[1] / 10
            out["tag_id"] = _int32_hex(payload[2:6])
            return out
        raise UnsupportedPortError(f"NPS405: unknown port {f_port}")
