"""The quantity catalogue: one canonical name, one unit and one valid range per quantity.

Measurement names in InfluxDB are these names; the API (``GET /api/v1/quantities``),
the dashboards and the OpenData export read units from this table, never from the
data. A store with mixed units in one measurement has a bug, so there is no
per-point unit and no conversion on read.

``kind`` tells consumers how to aggregate:

* ``measurement``      a sampled value (mean / min / max)
* ``interval_count``   a count over the device's reporting interval (sum)
* ``cumulative_count`` a running counter that may reset (difference, resets handled)
* ``state``            0/1 or a level (share of time / last value)

``senml_unit`` is the IANA SenML unit code (RFC 8428 / RFC 8798) and
``senml_scale`` the factor from our unit to it (hPa -> Pa would be 100 if the
export used Pa; codes are chosen so that it is 1 where possible).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Kind = Literal["measurement", "interval_count", "cumulative_count", "state"]


class Quantity(StrEnum):
    TEMPERATURE = "temperature"
    RELATIVE_HUMIDITY = "relative_humidity"
    CO2 = "co2"
    TVOC = "tvoc"
    ATMOSPHERIC_PRESSURE = "atmospheric_pressure"
    VAPOR_PRESSURE = "vapor_pressure"
    ILLUMINANCE = "illuminance"
    LIGHT_LEVEL = "light_level"
    MOTION = "motion"
    PRESENCE = "presence"
    DISTANCE = "distance"
    WATER_LEVEL = "water_level"
    SOIL_MOISTURE = "soil_moisture"
    SOIL_CONDUCTIVITY = "soil_conductivity"
    WIND_SPEED = "wind_speed"
    WIND_GUST = "wind_gust"
    WIND_DIRECTION = "wind_direction"
    PRECIPITATION = "precipitation"
    PRECIPITATION_INTENSITY = "precipitation_intensity"
    SOLAR_RADIATION = "solar_radiation"
    LIGHTNING_COUNT = "lightning_count"
    LIGHTNING_DISTANCE = "lightning_distance"
    PM2_5 = "pm2_5"
    PM10 = "pm10"
    SOUND_LEVEL = "sound_level"
    PEOPLE_IN = "people_in"
    PEOPLE_OUT = "people_out"
    PEOPLE_IN_TOTAL = "people_in_total"
    PEOPLE_OUT_TOTAL = "people_out_total"
    PEOPLE_COUNT = "people_count"
    VEHICLE_COUNT = "vehicle_count"
    VEHICLE_COUNT_TOTAL = "vehicle_count_total"
    OCCUPIED = "occupied"
    BATTERY = "battery"
    BATTERY_VOLTAGE = "battery_voltage"
    ANALOG = "analog"
    DIGITAL = "digital"
    ACCELERATION = "acceleration"
    ANGULAR_VELOCITY = "angular_velocity"
    LATITUDE = "latitude"
    LONGITUDE = "longitude"
    ALTITUDE = "altitude"
    TILT = "tilt"
    # added for the TTN Device Repository's normalized payload (decoders/normalized.py)
    PH = "ph"
    SOIL_NITROGEN = "soil_nitrogen"
    SOIL_PHOSPHORUS = "soil_phosphorus"
    SOIL_POTASSIUM = "soil_potassium"
    WATER_LEAK = "water_leak"
    WATER_METER = "water_meter"
    CONTACT_OPEN = "contact_open"


@dataclass(frozen=True, kw_only=True)
class QuantityInfo:
    name: Quantity
    unit: str
    senml_unit: str
    senml_scale: float = 1.0
    min: float = -math.inf
    max: float = math.inf
    kind: Kind = "measurement"
    label_en: str
    label_de: str
    grafana_unit: str = "none"

    def in_range(self, value: float) -> bool:
        return math.isfinite(value) and self.min <= value <= self.max


def _q(
    name: Quantity,
    unit: str,
    senml: str,
    lo: float,
    hi: float,
    en: str,
    de: str,
    *,
    kind: Kind = "measurement",
    grafana: str = "none",
    scale: float = 1.0,
) -> QuantityInfo:
    return QuantityInfo(
        name=name,
        unit=unit,
        senml_unit=senml,
        senml_scale=scale,
        min=lo,
        max=hi,
        kind=kind,
        label_en=en,
        label_de=de,
        grafana_unit=grafana,
    )


Q = Quantity
INF = math.inf
CATALOGUE: dict[Quantity, QuantityInfo] = {
    i.name: i
    for i in (
        _q(Q.TEMPERATURE, "°C", "Cel", -80, 125, "Temperature", "Temperatur", grafana="celsius"),
        _q(
            Q.RELATIVE_HUMIDITY,
            "%",
            "%RH",
            0,
            100,
            "Relative humidity",
            "Relative Luftfeuchte",
            grafana="humidity",
        ),
        _q(Q.CO2, "ppm", "ppm", 0, 40000, "CO₂ concentration", "CO₂-Konzentration", grafana="ppm"),
        _q(
            Q.TVOC,
            "ppb",
            "ppm",
            0,
            60000,
            "Total volatile organic compounds",
            "Flüchtige organische Verbindungen",
            grafana="ppb",
            scale=0.001,
        ),
        _q(
            Q.ATMOSPHERIC_PRESSURE,
            "hPa",
            "hPa",
            300,
            1100,
            "Air pressure",
            "Luftdruck",
            grafana="pressurehpa",
        ),
        _q(
            Q.VAPOR_PRESSURE,
            "hPa",
            "hPa",
            0,
            200,
            "Vapour pressure",
            "Dampfdruck",
            grafana="pressurehpa",
        ),
        _q(
            Q.ILLUMINANCE, "lx", "lx", 0, 200000, "Illuminance", "Beleuchtungsstärke", grafana="lux"
        ),
        _q(Q.LIGHT_LEVEL, "", "/", 0, 10, "Light level (0-5 scale)", "Lichtstufe", kind="state"),
        _q(Q.MOTION, "", "count", 0, INF, "Motion events", "Bewegungen", kind="interval_count"),
        _q(Q.PRESENCE, "", "/", 0, 1, "Presence", "Anwesenheit", kind="state"),
        _q(Q.DISTANCE, "m", "m", 0, 100, "Distance", "Abstand", grafana="lengthm"),
        _q(Q.WATER_LEVEL, "m", "m", -100, 10000, "Water level", "Wasserstand", grafana="lengthm"),
        _q(
            Q.SOIL_MOISTURE,
            "%",
            "%",
            0,
            100,
            "Soil moisture (volumetric)",
            "Bodenfeuchte",
            grafana="percent",
        ),
        _q(
            Q.SOIL_CONDUCTIVITY,
            "µS/cm",
            "S/m",
            0,
            100000,
            "Soil electrical conductivity",
            "Elektrische Leitfähigkeit (Boden)",
            scale=1e-4,
        ),
        _q(
            Q.WIND_SPEED,
            "m/s",
            "m/s",
            0,
            100,
            "Wind speed",
            "Windgeschwindigkeit",
            grafana="velocityms",
        ),
        _q(Q.WIND_GUST, "m/s", "m/s", 0, 100, "Wind gust", "Windböe", grafana="velocityms"),
        _q(
            Q.WIND_DIRECTION, "°", "deg", 0, 360, "Wind direction", "Windrichtung", grafana="degree"
        ),
        _q(
            Q.PRECIPITATION,
            "mm",
            "mm",
            0,
            1000,
            "Precipitation",
            "Niederschlag",
            kind="interval_count",
            grafana="lengthmm",
        ),
        _q(
            Q.PRECIPITATION_INTENSITY,
            "mm/h",
            "mm/h",
            0,
            1000,
            "Precipitation intensity",
            "Niederschlagsintensität",
        ),
        _q(
            Q.SOLAR_RADIATION,
            "W/m²",
            "W/m2",
            0,
            2000,
            "Solar radiation",
            "Globalstrahlung",
            grafana="Wm2",
        ),
        _q(
            Q.LIGHTNING_COUNT,
            "",
            "count",
            0,
            INF,
            "Lightning strikes",
            "Blitze",
            kind="interval_count",
        ),
        _q(
            Q.LIGHTNING_DISTANCE,
            "km",
            "km",
            0,
            100,
            "Lightning distance",
            "Blitzentfernung",
            grafana="lengthkm",
        ),
        _q(
            Q.PM2_5,
            "µg/m³",
            "ug/m3",
            0,
            2000,
            "Particulate matter PM2.5",
            "Feinstaub PM2,5",
            grafana="conμgm3",
        ),
        _q(
            Q.PM10,
            "µg/m³",
            "ug/m3",
            0,
            2000,
            "Particulate matter PM10",
            "Feinstaub PM10",
            grafana="conμgm3",
        ),
        _q(Q.SOUND_LEVEL, "dB", "dB", 0, 200, "Sound level", "Schallpegel", grafana="dB"),
        _q(
            Q.PEOPLE_IN,
            "",
            "count",
            0,
            INF,
            "People in (per interval)",
            "Personen hinein (je Intervall)",
            kind="interval_count",
        ),
        _q(
            Q.PEOPLE_OUT,
            "",
            "count",
            0,
            INF,
            "People out (per interval)",
            "Personen hinaus (je Intervall)",
            kind="interval_count",
        ),
        _q(
            Q.PEOPLE_IN_TOTAL,
            "",
            "count",
            0,
            INF,
            "People in (running total)",
            "Personen hinein (Zählerstand)",
            kind="cumulative_count",
        ),
        _q(
            Q.PEOPLE_OUT_TOTAL,
            "",
            "count",
            0,
            INF,
            "People out (running total)",
            "Personen hinaus (Zählerstand)",
            kind="cumulative_count",
        ),
        _q(Q.PEOPLE_COUNT, "", "count", 0, INF, "People present", "Anwesende Personen"),
        _q(
            Q.VEHICLE_COUNT,
            "",
            "count",
            0,
            INF,
            "Vehicles (per interval)",
            "Fahrzeuge (je Intervall)",
            kind="interval_count",
        ),
        _q(
            Q.VEHICLE_COUNT_TOTAL,
            "",
            "count",
            0,
            INF,
            "Vehicles (running total)",
            "Fahrzeuge (Zählerstand)",
            kind="cumulative_count",
        ),
        _q(Q.OCCUPIED, "", "/", 0, 1, "Parking space occupied", "Stellplatz belegt", kind="state"),
        _q(Q.BATTERY, "%", "%EL", 0, 100, "Battery level", "Batteriestand", grafana="percent"),
        _q(
            Q.BATTERY_VOLTAGE,
            "V",
            "V",
            0,
            30,
            "Battery voltage",
            "Batteriespannung",
            grafana="volt",
        ),
        _q(Q.ANALOG, "", "/", -INF, INF, "Analog value", "Analogwert"),
        _q(Q.DIGITAL, "", "/", 0, 255, "Digital value", "Digitalwert", kind="state"),
        _q(Q.ACCELERATION, "g", "m/s2", -160, 160, "Acceleration", "Beschleunigung", scale=9.80665),
        _q(
            Q.ANGULAR_VELOCITY,
            "°/s",
            "deg/s",
            -100000,
            100000,
            "Angular velocity",
            "Winkelgeschwindigkeit",
        ),
        _q(Q.LATITUDE, "°", "lat", -90, 90, "Latitude", "Breitengrad"),
        _q(Q.LONGITUDE, "°", "lon", -180, 180, "Longitude", "Längengrad"),
        _q(Q.ALTITUDE, "m", "m", -1000, 20000, "Altitude", "Höhe", grafana="lengthm"),
        _q(Q.TILT, "°", "deg", -360, 360, "Tilt angle", "Neigung", grafana="degree"),
        _q(Q.PH, "pH", "/", 0, 14, "pH value", "pH-Wert"),
        _q(
            Q.SOIL_NITROGEN,
            "ppm",
            "ppm",
            0,
            1000000,
            "Soil nitrogen",
            "Stickstoff im Boden",
            grafana="ppm",
        ),
        _q(
            Q.SOIL_PHOSPHORUS,
            "ppm",
            "ppm",
            0,
            1000000,
            "Soil phosphorus",
            "Phosphor im Boden",
            grafana="ppm",
        ),
        _q(
            Q.SOIL_POTASSIUM,
            "ppm",
            "ppm",
            0,
            1000000,
            "Soil potassium",
            "Kalium im Boden",
            grafana="ppm",
        ),
        _q(Q.WATER_LEAK, "", "/", 0, 1, "Water leak detected", "Wasserleck erkannt", kind="state"),
        _q(
            Q.WATER_METER,
            "L",
            "l",
            0,
            INF,
            "Water volume (meter reading)",
            "Wasservolumen (Zählerstand)",
            kind="cumulative_count",
            grafana="litre",
        ),
        _q(
            Q.CONTACT_OPEN,
            "",
            "/",
            0,
            1,
            "Contact open (1) / closed (0)",
            "Kontakt offen (1) / geschlossen (0)",
            kind="state",
        ),
    )
}

assert set(CATALOGUE) == set(Quantity), "every Quantity needs exactly one catalogue row"


def info(quantity: str) -> QuantityInfo:
    """The catalogue row for a quantity name (KeyError if unknown)."""
    return CATALOGUE[Quantity(quantity)]
