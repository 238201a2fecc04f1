"""Nwave NCC405 vehicle counter (``nwave/ncc405fm`` flush mount, ``nwave/ncc405sm`` surface mount).

Both ids use one codec (TTN Device Repository ``vendor/nwave/ncc405.js``, examples in
``ncc405-codec.yaml``):

* port 1 counter update: ``counter_value`` u16 BE, the device's running vehicle count
  (wraps at 65535) -> vehicle_count_total
* port 2 heartbeat: ``hw_health_status`` = byte 0 & 0x7F (the published example;
  an older codec text shifted right by 3), battery 2500 + 4 * raw mV (now
  and 24 h mean) -> battery_voltage
* port 3 startup: firmware version, reset cause; port 6 debug: the raw bytes
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from decoders.base import Decoder, Field
from decoders.catalog import register
from decoders.errors import UnsupportedPortError
from decoders.quantities import Quantity
from decoders.vendors.nwave._common import battery_mv, need, startup


@register
class NCC405(Decoder):
    model_ids = ("nwave/ncc405fm", "nwave/ncc405sm")
    vendor = "Nwave"
    model_name = "NCC405 vehicle counter"
    category = "traffic"
    ports = (1, 2, 3, 6)
    fields = (
        Field(key="counter_value", quantity=Quantity.VEHICLE_COUNT_TOTAL),
        Field(key="battery_voltage", quantity=Quantity.BATTERY_VOLTAGE),
    )

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        model = "NCC405"
        if f_port == 1:
            need(payload, 2, model, f_port)
            return {"type": "counter_update", "counter_value": (payload[0] << 8) | payload[1]}
        if f_port == 2:
            need(payload, 3, model, f_port)
            return {
                "type": "heartbeat",
                "hw_health_status": payload[0] & 0x7F,
                "battery_voltage": battery_mv(payload[1]) / 1000,
                "battery_voltage_mean_24h": battery_mv(payload[2]) / 1000,
            }
        if f_port == 3:
            need(payload, 4, model, f_port)
            return startup(payload)
        if f_port == 6:
            return {"type": "debug", "bytes": list(payload)}
        raise UnsupportedPortError(f"NCC405: unknown port {f_port}")
