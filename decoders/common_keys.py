"""Normalization for vendor dicts without a model table.

Used for payloads the network server decoded for a model we have no native decoder
for (TTS ``decoded_payload``, ChirpStack ``object``), and as the default mapping of
JavaScript codecs. Only well-known key names are mapped; everything else is
ignored with one warning naming the ignored keys, so nothing is guessed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from decoders.base import Field, Normalized, Reading, as_number, normalize_table
from decoders.quantities import Quantity

Q = Quantity

#: lower-cased key (with non-alphanumerics removed) -> (quantity, scale)
COMMON_KEYS: dict[str, tuple[Quantity, float]] = {
    "temperature": (Q.TEMPERATURE, 1),
    "temp": (Q.TEMPERATURE, 1),
    "airtemperature": (Q.TEMPERATURE, 1),
    "tempc": (Q.TEMPERATURE, 1),
    "humidity": (Q.RELATIVE_HUMIDITY, 1),
    "relativehumidity": (Q.RELATIVE_HUMIDITY, 1),
    "hum": (Q.RELATIVE_HUMIDITY, 1),
    "rh": (Q.RELATIVE_HUMIDITY, 1),
    "co2": (Q.CO2, 1),
    "tvoc": (Q.TVOC, 1),
    "pressure": (Q.ATMOSPHERIC_PRESSURE, 1),
    "barometricpressure": (Q.ATMOSPHERIC_PRESSURE, 1),
    "atmosphericpressure": (Q.ATMOSPHERIC_PRESSURE, 1),
    "illuminance": (Q.ILLUMINANCE, 1),
    "light": (Q.ILLUMINANCE, 1),
    "lux": (Q.ILLUMINANCE, 1),
    "luminosity": (Q.ILLUMINANCE, 1),
    "battery": (Q.BATTERY, 1),
    "batterylevel": (Q.BATTERY, 1),
    "batterypercent": (Q.BATTERY, 1),
    "batteryvoltage": (Q.BATTERY_VOLTAGE, 1),
    "batv": (Q.BATTERY_VOLTAGE, 1),
    "vbat": (Q.BATTERY_VOLTAGE, 1),
    "batteryv": (Q.BATTERY_VOLTAGE, 1),
    "windspeed": (Q.WIND_SPEED, 1),
    "winddirection": (Q.WIND_DIRECTION, 1),
    "precipitation": (Q.PRECIPITATION, 1),
    "rain": (Q.PRECIPITATION, 1),
    "pm25": (Q.PM2_5, 1),
    "pm10": (Q.PM10, 1),
    "waterlevel": (Q.WATER_LEVEL, 1),
    "soilmoisture": (Q.SOIL_MOISTURE, 1),
    "occupied": (Q.OCCUPIED, 1),
    "occupancy": (Q.OCCUPIED, 1),
    "peoplein": (Q.PEOPLE_IN, 1),
    "peopleout": (Q.PEOPLE_OUT, 1),
    "peoplecount": (Q.PEOPLE_COUNT, 1),
    "vehiclecount": (Q.VEHICLE_COUNT, 1),
    "motion": (Q.MOTION, 1),
    "presence": (Q.PRESENCE, 1),
    "latitude": (Q.LATITUDE, 1),
    "longitude": (Q.LONGITUDE, 1),
    "altitude": (Q.ALTITUDE, 1),
}

_LPP_STYLE = re.compile(r"^(?P<name>[a-z_]+?)_(?P<channel>\d+)$")


_NOT_ALNUM = re.compile(r"[^a-z0-9]")


@functools.lru_cache(maxsize=4096)  # the same few keys, uplink after uplink
def canonical_key(key: str) -> str:
    return _NOT_ALNUM.sub("", key.lower())


@functools.lru_cache(maxsize=4096)  # keys repeat uplink after uplink
def _resolve(key: str) -> tuple[tuple[Quantity, float] | None, str]:
    """A vendor key -> (quantity, scale) and sensor label, or (None, "")."""
    hit = COMMON_KEYS.get(canonical_key(key))
    if hit is not None:
        return hit, ""
    m = _LPP_STYLE.match(key.lower())
    if m:
        hit = COMMON_KEYS.get(canonical_key(m["name"]))
        if hit is not None:
            return hit, m["channel"]
    return None, ""


def normalize_common(
    decoded: Mapping[str, Any], *, extra: Mapping[str, Field] | None = None
) -> Normalized:
    """Map well-known top-level keys (and ``name_<channel>`` LPP-style keys) to readings.

    ``extra`` maps exact vendor keys to Field rows and wins over the common names.
    """
    from decoders.vendors.generic import cayenne_lpp  # noqa: PLC0415 (vendor module, lazily)

    if not extra and cayenne_lpp.is_chirpstack_lpp(decoded):
        # ChirpStack's built-in Cayenne LPP codec: a well-known shape, not guesswork
        return cayenne_lpp.normalize_lpp(decoded)
    readings: list[Reading] = []
    warnings: list[str] = []
    ignored: list[str] = []
    explicit = dict(extra or {})
    if explicit:
        n = normalize_table(decoded, list(explicit.values()))
        readings.extend(n.readings)
        warnings.extend(n.warnings)
    for key, raw in decoded.items():
        if key in explicit:
            continue
        hit, sensor = _resolve(key)
        if hit is None:
            ignored.append(key)
            continue
        num = as_number(raw)
        if num is None or isinstance(raw, bool) and hit[0] not in (Q.OCCUPIED, Q.PRESENCE):
            warnings.append(f"{key}: not a number ({raw!r})")
            continue
        readings.append(Reading(quantity=hit[0], value=num * hit[1], sensor=sensor))
    if ignored:
        warnings.append("keys without a known quantity ignored: " + ", ".join(sorted(ignored)))
    return Normalized(readings=tuple(readings), warnings=tuple(warnings))
