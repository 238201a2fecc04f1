"""The TTN Device Repository's normalized payload -> canonical readings.

The Things Stack runs a repository codec's ``normalizeUplink`` after ``decodeUplink``
and publishes the result as ``uplink_message.normalized_payload``: a list of
measurement objects in one fixed schema with fixed units (TheThingsNetwork/
lorawan-devices ``lib/payload.json``, schema id
``https://schema.thethings.network/devicerepository/1/payload/schema``). The same
shape comes out of a repository codec's ``normalizeUplink`` when we run it ourselves
(:mod:`decoders.js`).

Because the units are fixed, one table serves every device: :data:`TABLE` maps every
numeric or boolean field the schema defines to a catalogue quantity, a scale and a
``sensor`` label. Fields that are not measurements (``air.location``, ``soil.depth``)
become part of the sensor label; ``time`` becomes the reading's time. Anything the
schema does not define is listed in one warning, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from decoders.base import Normalized, Reading
from decoders.quantities import Quantity

Q = Quantity

#: the schema's identifier, as cited in docs and warnings
SCHEMA_ID = "https://schema.thethings.network/devicerepository/1/payload/schema"


@dataclass(frozen=True, slots=True)
class NormalizedField:
    """One schema field: its path, the catalogue quantity, the factor to our unit."""

    path: str
    quantity: Quantity
    sensor: str = ""
    scale: float = 1.0
    schema_unit: str = ""


def _f(
    path: str, q: Quantity, sensor: str = "", scale: float = 1.0, unit: str = ""
) -> NormalizedField:
    return NormalizedField(path=path, quantity=q, sensor=sensor, scale=scale, schema_unit=unit)


#: every measurement field of lib/payload.json (definitions.measurement.properties)
TABLE: tuple[NormalizedField, ...] = (
    _f("battery", Q.BATTERY_VOLTAGE, unit="V"),
    _f("air.temperature", Q.TEMPERATURE, unit="°C"),
    _f("air.relativeHumidity", Q.RELATIVE_HUMIDITY, unit="%"),
    _f("air.pressure", Q.ATMOSPHERIC_PRESSURE, unit="hPa"),
    _f("air.co2", Q.CO2, unit="ppm"),
    _f("air.lightIntensity", Q.ILLUMINANCE, unit="lx"),
    _f("soil.moisture", Q.SOIL_MOISTURE, "soil", unit="%"),
    _f("soil.temperature", Q.TEMPERATURE, "soil", unit="°C"),
    # dS/m -> µS/cm
    _f("soil.ec", Q.SOIL_CONDUCTIVITY, "soil", 1000.0, unit="dS/m"),
    _f("soil.pH", Q.PH, "soil", unit="pH"),
    _f("soil.n", Q.SOIL_NITROGEN, "soil", unit="ppm"),
    _f("soil.p", Q.SOIL_PHOSPHORUS, "soil", unit="ppm"),
    _f("soil.k", Q.SOIL_POTASSIUM, "soil", unit="ppm"),
    _f("wind.speed", Q.WIND_SPEED, unit="m/s"),
    _f("wind.direction", Q.WIND_DIRECTION, unit="°"),
    _f("water.leak", Q.WATER_LEAK, unit="boolean"),
    _f("water.temperature.current", Q.TEMPERATURE, "water", unit="°C"),
    _f("water.temperature.avg", Q.TEMPERATURE, "water_avg", unit="°C"),
    _f("water.temperature.min", Q.TEMPERATURE, "water_min", unit="°C"),
    _f("water.temperature.max", Q.TEMPERATURE, "water_max", unit="°C"),
    _f("metering.water.total", Q.WATER_METER, unit="L"),
    _f("action.motion.detected", Q.PRESENCE, unit="boolean"),
    _f("action.motion.count", Q.MOTION, unit="count"),
    _f("action.contactState", Q.CONTACT_OPEN, unit='"open" / "closed"'),
    _f("position.latitude", Q.LATITUDE, unit="°"),
    _f("position.longitude", Q.LONGITUDE, unit="°"),
)

#: schema fields that are context, not readings: they label the readings instead
CONTEXT_FIELDS = ("time", "air.location", "soil.depth")

_BY_PATH: dict[str, NormalizedField] = {f.path: f for f in TABLE}
_KNOWN_PREFIXES = frozenset(
    ".".join(f.path.split(".")[:i]) for f in TABLE for i in range(1, f.path.count(".") + 1)
)

#: the string forms the schema allows for booleans and states
_STATES: dict[str, float] = {
    "open": 1.0,
    "closed": 0.0,
    "true": 1.0,
    "false": 0.0,
    "yes": 1.0,
    "no": 0.0,
    "leak": 1.0,
    "detected": 1.0,
    "none": 0.0,
}


def _leaves(obj: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in obj.items():
        path = prefix + key if prefix else key
        # JSON objects are dicts: the type check is several times cheaper than the ABC's
        if type(value) is dict and path in _KNOWN_PREFIXES:
            out.extend(_leaves(value, path + "."))
        else:
            out.append((path, value))
    return out


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        return _STATES.get(raw.strip().lower())
    return None


def _time(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _suffixes(measurement: Mapping[str, Any]) -> dict[str, str]:
    """Sensor-label suffixes of one measurement: soil depth, air location."""
    out: dict[str, str] = {}
    soil = measurement.get("soil")
    if type(soil) is dict and "depth" in soil:
        depth = _number(soil["depth"])
        if depth is not None:
            out["soil"] = f"{depth:g}cm"
    air = measurement.get("air")
    if type(air) is dict:
        where = air.get("location")
        if isinstance(where, str) and where:
            out["air"] = where
    return out


def _label(base: str, suffixes: Mapping[str, str], path: str) -> str:
    """The sensor label: the table's, plus soil depth or the air location when given."""
    extra = suffixes.get(path.split(".", 1)[0]) if suffixes else None
    if not extra:
        return base
    return f"{base}_{extra}" if base else extra


def normalize_measurements(measurements: Sequence[Any] | Mapping[str, Any]) -> Normalized:
    """Map a normalized payload (a list of measurements, or one) to readings and warnings."""
    items = [measurements] if isinstance(measurements, dict) else list(measurements)
    readings: list[Reading] = []
    warnings: list[str] = []
    unknown: set[str] = set()
    for index, m in enumerate(items):
        where = f"normalized_payload[{index}]" if len(items) > 1 else "normalized_payload"
        if type(m) is not dict:
            warnings.append(f"{where}: not an object, ignored")
            continue
        suffixes = _suffixes(m)
        when = None
        if "time" in m:
            when = _time(m["time"])
            if when is None:
                warnings.append(f"{where}.time: not an RFC 3339 time ({m['time']!r})")
        for path, raw in _leaves(m):
            if path in CONTEXT_FIELDS:
                continue
            spec = _BY_PATH.get(path)
            if spec is None:
                unknown.add(path)
                continue
            if raw is None:
                continue
            num = _number(raw)
            if num is None or not math.isfinite(num):
                warnings.append(f"{where}.{path}: not a number ({raw!r})")
                continue
            readings.append(
                Reading(
                    quantity=spec.quantity,
                    value=num * spec.scale if spec.scale != 1.0 else num,
                    sensor=_label(spec.sensor, suffixes, path),
                    time=when,
                )
            )
    if unknown:
        warnings.append(
            "normalized payload fields outside the repository schema ignored: "
            + ", ".join(sorted(unknown))
        )
    return Normalized(readings=tuple(readings), warnings=tuple(warnings))


def merge(primary: Normalized, secondary: Normalized) -> Normalized:
    """``primary`` readings, plus those of ``secondary`` for quantities ``primary`` lacks.

    Used to keep the decoded payload's extra keys next to the normalized payload. A
    quantity the normalized payload has is taken from it alone (whatever the sensor
    label), so the same measurement never lands in two series.
    """
    have = {r.quantity for r in primary.readings}
    extra = tuple(r for r in secondary.readings if r.quantity not in have)
    return Normalized(
        readings=primary.readings + extra, warnings=primary.warnings + secondary.warnings
    )


__all__ = [
    "CONTEXT_FIELDS",
    "SCHEMA_ID",
    "TABLE",
    "NormalizedField",
    "merge",
    "normalize_measurements",
]
