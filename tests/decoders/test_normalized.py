"""The normalized-payload table (decoders/normalized.py) against the repository schema.

Schema: TheThingsNetwork/lorawan-devices ``lib/payload.json`` at commit
311659e1de23524e92d9ca176323dead48682838 (``$defs.measurement.properties``). Its leaf
fields and units are listed here as facts; the table must cover every one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from decoders.common_keys import normalize_common
from decoders.normalized import CONTEXT_FIELDS, TABLE, merge, normalize_measurements
from decoders.quantities import CATALOGUE, Quantity

#: every leaf of $defs.measurement in lib/payload.json
SCHEMA_LEAVES = {
    "time",
    "battery",
    "soil.depth",
    "soil.moisture",
    "soil.temperature",
    "soil.ec",
    "soil.pH",
    "soil.n",
    "soil.p",
    "soil.k",
    "air.location",
    "air.temperature",
    "air.relativeHumidity",
    "air.pressure",
    "air.co2",
    "air.lightIntensity",
    "wind.speed",
    "wind.direction",
    "water.leak",
    "water.temperature.min",
    "water.temperature.max",
    "water.temperature.avg",
    "water.temperature.current",
    "metering.water.total",
    "action.motion.detected",
    "action.motion.count",
    "action.contactState",
    "position.latitude",
    "position.longitude",
}


def test_every_schema_field_is_mapped_or_context() -> None:
    mapped = {f.path for f in TABLE}
    assert mapped | set(CONTEXT_FIELDS) == SCHEMA_LEAVES
    assert not mapped & set(CONTEXT_FIELDS)


def test_full_measurement() -> None:
    m = {
        "time": "2024-05-01T10:00:00Z",
        "battery": 3.6,
        "soil": {
            "depth": 30,
            "moisture": 35.5,
            "temperature": 14.2,
            "ec": 0.8,
            "pH": 6.5,
            "n": 20,
            "p": 11,
            "k": 80,
        },
        "air": {
            "location": "outdoor",
            "temperature": 18.5,
            "relativeHumidity": 60,
            "pressure": 1013.2,
            "co2": 420,
            "lightIntensity": 1200,
        },
        "wind": {"speed": 3.4, "direction": 270},
        "water": {"leak": False, "temperature": {"min": 9, "max": 12, "avg": 10.5, "current": 11}},
        "metering": {"water": {"total": 12345.5}},
        "action": {"motion": {"detected": True, "count": 4}, "contactState": "open"},
        "position": {"latitude": 52.52, "longitude": 13.405},
    }
    n = normalize_measurements([m])
    assert n.warnings == ()
    got = {(r.quantity.value, r.sensor): r.value for r in n.readings}
    assert got == {
        ("battery_voltage", ""): 3.6,
        ("soil_moisture", "soil_30cm"): 35.5,
        ("temperature", "soil_30cm"): 14.2,
        ("soil_conductivity", "soil_30cm"): 800.0,
        ("ph", "soil_30cm"): 6.5,
        ("soil_nitrogen", "soil_30cm"): 20,
        ("soil_phosphorus", "soil_30cm"): 11,
        ("soil_potassium", "soil_30cm"): 80,
        ("temperature", "outdoor"): 18.5,
        ("relative_humidity", "outdoor"): 60,
        ("atmospheric_pressure", "outdoor"): 1013.2,
        ("co2", "outdoor"): 420,
        ("illuminance", "outdoor"): 1200,
        ("wind_speed", ""): 3.4,
        ("wind_direction", ""): 270,
        ("water_leak", ""): 0,
        ("temperature", "water_min"): 9,
        ("temperature", "water_max"): 12,
        ("temperature", "water_avg"): 10.5,
        ("temperature", "water"): 11,
        ("water_meter", ""): 12345.5,
        ("presence", ""): 1,
        ("motion", ""): 4,
        ("contact_open", ""): 1,
        ("latitude", ""): 52.52,
        ("longitude", ""): 13.405,
    }
    assert {r.time for r in n.readings} == {datetime(2024, 5, 1, 10, tzinfo=UTC)}
    # every value above lies inside its catalogue range
    assert all(CATALOGUE[r.quantity].in_range(r.value) for r in n.readings)


@pytest.mark.parametrize(
    ("raw", "value"), [("closed", 0.0), ("open", 1.0), (True, 1.0), ("true", 1.0)]
)
def test_states_from_strings_and_booleans(raw: object, value: float) -> None:
    n = normalize_measurements([{"action": {"contactState": raw}, "water": {"leak": raw}}])
    assert {r.value for r in n.readings} == {value}


def test_one_object_instead_of_a_list_is_accepted() -> None:
    """TTS's up/normalized event and some codecs give one object, not a list."""
    n = normalize_measurements({"air": {"temperature": 21.0}})
    assert [(r.quantity, r.value) for r in n.readings] == [(Quantity.TEMPERATURE, 21.0)]


def test_bad_time_is_a_warning_and_the_reading_keeps_the_uplink_time() -> None:
    n = normalize_measurements([{"time": "yesterday", "air": {"co2": 500}}])
    assert n.readings[0].time is None
    assert "not an RFC 3339 time" in n.warnings[0]


def test_merge_keeps_decoded_keys_only_for_missing_quantities() -> None:
    normalized = normalize_measurements([{"soil": {"temperature": 12.0}}])
    decoded = normalize_common({"temperature": 12.0, "battery": 90})
    m = merge(normalized, decoded)
    assert sorted((r.quantity.value, r.sensor) for r in m.readings) == [
        ("battery", ""),
        ("temperature", "soil"),
    ]


def test_the_docs_mapping_table_is_the_code_table() -> None:
    """docs/decoders-paths.md lists every row of TABLE with its quantity and label."""
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "decoders-paths.md").read_text(encoding="utf-8")
    rows = set()
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("`") and cells[2].startswith("`"):
            sensor = cells[4].strip("`") if cells[4] != "—" else ""
            rows.add((cells[0].strip("`"), cells[2].strip("`"), sensor))
    assert rows == {(f.path, f.quantity.value, f.sensor) for f in TABLE}
