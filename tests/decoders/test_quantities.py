"""Sanity of the quantity catalogue (decoders/quantities.py)."""

from __future__ import annotations

import math
import re

import pytest

from decoders import CATALOGUE, Quantity
from decoders.quantities import info

# IANA "SenML Units" registry (RFC 8428 §12.1, RFC 8798) codes the catalogue may use,
# plus the secondary units registered by RFC 8798 (ppm, ppb, hPa, mm/h, ...).
SENML_UNITS = {
    "m", "kg", "g", "s", "A", "K", "cd", "mol", "Hz", "rad", "sr", "N", "Pa", "J", "W", "C",
    "V", "F", "Ohm", "S", "Wb", "T", "H", "Cel", "lm", "lx", "Bq", "Gy", "Sv", "kat", "m2",
    "m3", "l", "m/s", "m/s2", "m3/s", "l/s", "W/m2", "cd/m2", "bit", "bit/s", "lat", "lon",
    "pH", "dB", "dBW", "Bspl", "count", "/", "%", "%RH", "%EL", "EL", "1/s", "1/min",
    "beat/min", "beats", "S/m", "B", "VA", "VAs", "var", "vars", "J/m", "kg/m3", "deg",
    "NTU", "ms", "min", "h", "MHz", "kW", "kVA", "kvar", "Ah", "Wh", "kWh", "varh", "kvarh",
    "kVAh", "Wh/km", "KiB", "GB", "Mbit/s", "B/s", "MB/s", "mV", "mA", "dBm", "ug/m3",
    "mm/h", "m/h", "ppm", "/100", "/1000", "hPa", "mm", "cm", "km", "km/h", "gravity",
    "dps", "deg/s", "ppb", "ppt", "mW", "uW",
}  # fmt: skip
KINDS = {"measurement", "interval_count", "cumulative_count", "state"}


def test_one_row_per_quantity() -> None:
    assert set(CATALOGUE) == set(Quantity)
    for q, row in CATALOGUE.items():
        assert row.name is q
        assert info(q.value) is row


@pytest.mark.parametrize("q", list(Quantity))
def test_row_is_sane(q: Quantity) -> None:
    row = CATALOGUE[q]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", q.value), "measurement names are snake_case"
    assert row.min < row.max
    assert not math.isnan(row.min) and not math.isnan(row.max)
    assert row.kind in KINDS
    assert row.senml_unit in SENML_UNITS, f"{q}: {row.senml_unit!r} is not a SenML unit code"
    assert row.senml_scale > 0 and math.isfinite(row.senml_scale)
    assert row.label_en.strip() and row.label_de.strip()
    assert row.grafana_unit.strip()
    if row.kind in ("interval_count", "cumulative_count"):
        assert row.min == 0, f"{q}: sums over time are non-negative"
    if row.senml_unit == "count":
        assert row.unit == "" and row.min == 0, f"{q}: counts are unitless and non-negative"
    for bound in (row.min, row.max):
        assert math.isinf(bound) or row.in_range(bound), "ranges are inclusive"
    assert not row.in_range(math.nan) and not row.in_range(math.inf)


def test_counter_kinds_follow_names() -> None:
    """``*_total`` quantities are running totals; the per-interval ones are sums."""
    for q, row in CATALOGUE.items():
        if q.value.endswith("_total"):
            assert row.kind == "cumulative_count", q
            base = Quantity(q.value.removesuffix("_total"))
            assert CATALOGUE[base].kind == "interval_count", base
    for q in (Quantity.PEOPLE_IN, Quantity.PEOPLE_OUT, Quantity.VEHICLE_COUNT):
        assert CATALOGUE[q].kind == "interval_count"
    assert CATALOGUE[Quantity.OCCUPIED].kind == "state"
    assert (CATALOGUE[Quantity.OCCUPIED].min, CATALOGUE[Quantity.OCCUPIED].max) == (0, 1)


def test_battery_is_split() -> None:
    """Battery: percent and volts are different quantities (ARCHITECTURE.md)."""
    pct, volts = CATALOGUE[Quantity.BATTERY], CATALOGUE[Quantity.BATTERY_VOLTAGE]
    assert (pct.unit, pct.min, pct.max) == ("%", 0, 100)
    assert volts.unit == "V" and volts.max < 100


@pytest.mark.parametrize(
    ("q", "unit", "senml"),
    [
        (Quantity.TEMPERATURE, "°C", "Cel"),
        (Quantity.RELATIVE_HUMIDITY, "%", "%RH"),
        (Quantity.ATMOSPHERIC_PRESSURE, "hPa", "hPa"),
        (Quantity.CO2, "ppm", "ppm"),
        (Quantity.ILLUMINANCE, "lx", "lx"),
        (Quantity.BATTERY_VOLTAGE, "V", "V"),
        (Quantity.WIND_SPEED, "m/s", "m/s"),
    ],
)
def test_canonical_units(q: Quantity, unit: str, senml: str) -> None:
    """The units users read (STYLE.md §3)."""
    assert (CATALOGUE[q].unit, CATALOGUE[q].senml_unit) == (unit, senml)


def test_ranges_reject_physical_nonsense() -> None:
    assert not info("temperature").in_range(327.67)  # the 0x7FFF sentinel
    assert not info("relative_humidity").in_range(101)
    assert not info("atmospheric_pressure").in_range(10.0)
    assert info("temperature").in_range(-40.0)
