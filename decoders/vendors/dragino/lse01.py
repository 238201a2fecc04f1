"""Dragino LSE01 soil moisture & EC sensor (model id ``dragino/lse01``).

Source: Dragino "LSE01 LoRaWAN Soil Moisture & EC Sensor User Manual" (uplink payload)
and the TTN Device Repository codec ``vendor/dragino/lse01.js``, whose output this
decoder reproduces, including its string values (``toFixed``) and one quirk:

Port 2, 11 bytes, big endian::

    0-1   battery voltage, mV (low 14 bits)
    2-3   DS18B20 probe temperature, signed, 0.1 °C
    4-5   soil moisture, 0.01 %
    6-7   soil temperature, signed, 0.01 °C
    8-9   soil conductivity, µS/cm
    10    digital interrupt / message type (not decoded by the vendor codec)

Quirk: the vendor codec turns a negative soil temperature into ``(raw - 0xFFFF) / 100``,
0.01 °C too high (two's complement needs 0x10000). ``decode`` keeps the vendor value;
``normalize`` publishes the correct one (a negative ``temp_SOIL`` minus 0.01).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from decoders._bits import Reader, require_length
from decoders.base import Decoder, Field, Normalized, Reading, as_number, normalize_table
from decoders.catalog import register
from decoders.errors import UnsupportedPortError
from decoders.quantities import Quantity

Q = Quantity
SOIL_TEMPERATURE = Field(key="temp_SOIL", quantity=Q.TEMPERATURE, sensor="soil")


@register
class LSE01(Decoder):
    model_ids = ("dragino/lse01",)
    vendor = "Dragino"
    model_name = "LSE01"
    category = "environment"
    ports = (2,)
    description = "Soil moisture, soil temperature and conductivity (+ optional DS18B20 probe)"
    fields = (
        Field(key="Bat", quantity=Q.BATTERY_VOLTAGE),
        Field(key="TempC_DS18B20", quantity=Q.TEMPERATURE, sensor="probe"),
        Field(key="water_SOIL", quantity=Q.SOIL_MOISTURE),
        Field(key="conduct_SOIL", quantity=Q.SOIL_CONDUCTIVITY),
    )

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if f_port != 2:
            raise UnsupportedPortError(f"LSE01: unknown port {f_port} (sends on port 2)")
        require_length(payload, 11, model="LSE01", f_port=f_port)
        r = Reader(payload)
        bat = r.u16() & 0x3FFF
        probe = r.s16()
        moisture = r.u16()
        soil_raw = r.u16()
        soil = soil_raw - 0xFFFF if soil_raw & 0x8000 else soil_raw  # the vendor's arithmetic
        return {
            "Bat": bat / 1000,
            "TempC_DS18B20": f"{probe / 10:.1f}",
            "water_SOIL": f"{moisture / 100:.2f}",
            "temp_SOIL": f"{soil / 100:.2f}",
            "conduct_SOIL": r.u16(),
        }

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        n = normalize_table(decoded, self.fields)
        readings = list(n.readings)
        warnings = list(n.warnings)
        raw = decoded.get("temp_SOIL")
        if raw is not None:
            value = as_number(raw)
            if value is None:
                warnings.append(f"temp_SOIL: not a number ({raw!r})")
            else:
                if value < 0:
                    value = round(value - 0.01, 2)  # undo the vendor's 0xFFFF off-by-one
                readings.append(
                    Reading(quantity=SOIL_TEMPERATURE.quantity, value=value, sensor="soil")
                )
        return Normalized(readings=tuple(readings), warnings=tuple(warnings))
