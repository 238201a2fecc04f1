"""Template decoder (model id ``example/thermometer``): copy this file to add a model.

Payload (port 1, 4 bytes, big endian), an invented device for the template:

    bytes 0-1  temperature, signed, 0.01 °C; 0x7FFF = probe absent
    bytes 2-3  battery voltage, unsigned, mV

The vendor dict mirrors what the vendor's JavaScript codec would return
(``{"temperature": 21.5, "battery_mv": 3012}``); the ``fields`` table maps it to
canonical quantities. Vectors live in ``testdata/example.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from decoders._bits import Reader, require_length
from decoders.base import Decoder, Field
from decoders.catalog import register
from decoders.errors import UnsupportedPortError
from decoders.quantities import Quantity


@register
class ExampleThermometer(Decoder):
    model_ids = ("example/thermometer",)
    vendor = "Example"
    model_name = "Thermometer (template)"
    category = "environment"
    ports = (1,)
    fields = (
        # vendor key, canonical quantity, no-data sentinel as the vendor dict shows it
        Field(key="temperature", quantity=Quantity.TEMPERATURE, nodata=(327.67,)),
        Field(key="battery_mv", quantity=Quantity.BATTERY_VOLTAGE, scale=0.001),
    )

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if f_port != 1:
            raise UnsupportedPortError(f"example/thermometer sends on port 1, not port {f_port}")
        require_length(payload, 4, model="example/thermometer", f_port=f_port)
        r = Reader(payload)
        return {"temperature": r.s16() / 100, "battery_mv": r.u16()}
