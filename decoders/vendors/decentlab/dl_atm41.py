"""Decentlab DL-ATM41 eleven-parameter weather station (model id ``decentlab/dl-atm41``).

Source: Decentlab DL-ATM41 data sheet ("Payload structure", METER ATMOS 41 sensor);
TTN Device Repository ``vendor/decentlab/dl-atm41.js`` and ``dl-atm41-codec.yaml``.
Framing: :mod:`._protocol_v2`. Group 0: 17 words (signed values offset by 32768),
group 1: battery (mV). Pressures arrive in kPa and are published in hPa. The lightning
average distance is meaningless when no strike was counted, so it is then a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from decoders.base import Field, Normalized, lookup, normalize_table
from decoders.catalog import register
from decoders.quantities import Quantity
from decoders.vendors.decentlab._protocol_v2 import BATTERY, DecentlabV2, Group, Value, offset

Q = Quantity
WIND = "m⋅s⁻¹"


def _v(name: str, display: str, i: int, divisor: float = 1, unit: str | None = None) -> Value:
    return Value(name=name, display=display, convert=offset(i, divisor), unit=unit)


WEATHER = Group(
    length=17,
    values=(
        _v("solar_radiation", "Solar radiation", 0, 1, "W⋅m⁻²"),
        _v("precipitation", "Precipitation", 1, 1000, "mm"),
        _v("lightning_strike_count", "Lightning strike count", 2),
        _v("lightning_average_distance", "Lightning average distance", 3, 1, "km"),
        _v("wind_speed", "Wind speed", 4, 100, WIND),
        _v("wind_direction", "Wind direction", 5, 10, "°"),
        _v("maximum_wind_speed", "Maximum wind speed", 6, 100, WIND),
        _v("air_temperature", "Air temperature", 7, 10, "°C"),
        _v("vapor_pressure", "Vapor pressure", 8, 100, "kPa"),
        _v("atmospheric_pressure", "Atmospheric pressure", 9, 100, "kPa"),
        _v("relative_humidity", "Relative humidity", 10, 10, "%"),
        _v("sensor_temperature_internal", "Sensor temperature (internal)", 11, 10, "°C"),
        _v("x_orientation_angle", "X orientation angle", 12, 10, "°"),
        _v("y_orientation_angle", "Y orientation angle", 13, 10, "°"),
        _v("compass_heading", "Compass heading", 14, 1, "°"),
        _v("north_wind_speed", "North wind speed", 15, 100, WIND),
        _v("east_wind_speed", "East wind speed", 16, 100, WIND),
    ),
)

LIGHTNING_DISTANCE = Field(key="lightning_average_distance.value", quantity=Q.LIGHTNING_DISTANCE)


@register
class DLATM41(DecentlabV2):
    model_ids = ("decentlab/dl-atm41",)
    vendor = "Decentlab"
    model_name = "DL-ATM41"
    category = "environment"
    description = (
        "Weather station: radiation, rain, lightning, wind, temperature, humidity, pressure"
    )
    label = "DL-ATM41"
    groups = (WEATHER, BATTERY)
    fields = (
        Field(key="solar_radiation.value", quantity=Q.SOLAR_RADIATION),
        Field(key="precipitation.value", quantity=Q.PRECIPITATION),
        Field(key="lightning_strike_count.value", quantity=Q.LIGHTNING_COUNT),
        LIGHTNING_DISTANCE,
        Field(key="wind_speed.value", quantity=Q.WIND_SPEED),
        Field(key="wind_direction.value", quantity=Q.WIND_DIRECTION),
        Field(key="maximum_wind_speed.value", quantity=Q.WIND_GUST),
        Field(key="air_temperature.value", quantity=Q.TEMPERATURE, sensor="air"),
        Field(key="vapor_pressure.value", quantity=Q.VAPOR_PRESSURE, scale=10),
        Field(key="atmospheric_pressure.value", quantity=Q.ATMOSPHERIC_PRESSURE, scale=10),
        Field(key="relative_humidity.value", quantity=Q.RELATIVE_HUMIDITY),
        Field(key="sensor_temperature_internal.value", quantity=Q.TEMPERATURE, sensor="internal"),
        Field(key="x_orientation_angle.value", quantity=Q.TILT, sensor="x"),
        Field(key="y_orientation_angle.value", quantity=Q.TILT, sensor="y"),
        Field(key="battery_voltage.value", quantity=Q.BATTERY_VOLTAGE),
    )

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        if lookup(decoded, "lightning_strike_count.value") == 0:
            rest = tuple(f for f in self.fields if f is not LIGHTNING_DISTANCE)
            n = normalize_table(decoded, rest)
            return Normalized(
                readings=n.readings,
                warnings=(*n.warnings, "lightning_average_distance: no data (no strikes)"),
            )
        return normalize_table(decoded, self.fields)
