"""``$__interval`` as Grafana computes it for a panel, and the resolutions our panels choose.

Grafana (``@grafana/data`` ``rangeutil.calculateInterval``, used by the panel query runner)
divides the time range by the panel's **Max data points** (``maxDataPoints``; when the panel
sets none, the panel's width in pixels), rounds the result to a "nice" interval with the
table of ``rangeutil.roundInterval`` and raises it to the lower limit: the panel's **Min
interval** (``interval``) or, when the panel sets none, the datasource's ``timeInterval``
(``dashboards/provisioning/datasources/influxdb.yaml``: 1m). ``$__interval`` is that
interval written as ``secondsToHms`` writes it (``3h``, ``1d``, ``7d``), ``$__interval_ms``
the same in milliseconds.

The rounding is to the *nearest* nice interval on Grafana's own boundaries (3.6 h becomes
3 h, 4.6 h becomes 6 h), not always up; :func:`round_interval` copies the table.

The bench (``bench/dashboards.py``) and the query tests substitute ``$__interval`` with
:func:`panel_interval`, so what they measure is what Grafana would ask for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the datasource's "Min time interval" (jsonData.timeInterval in the provisioning file)
DATASOURCE_MIN_INTERVAL = "1m"
#: what Grafana uses as maxDataPoints when a panel sets none is the panel's width in
#: pixels; we cannot know the browser's, so a documented assumption: 1,000 px
DEFAULT_MAX_DATA_POINTS = 1000

_S = 1000
_M = 60 * _S
_H = 60 * _M
_D = 24 * _H

#: rangeutil.roundInterval: (below this many ms, use this interval in ms), in order
_NICE: tuple[tuple[float, int], ...] = (
    (10, 1),
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1500, 1 * _S),
    (3500, 2 * _S),
    (7500, 5 * _S),
    (12500, 10 * _S),
    (17500, 15 * _S),
    (25000, 20 * _S),
    (45000, 30 * _S),
    (90000, 1 * _M),
    (210000, 2 * _M),
    (450000, 5 * _M),
    (750000, 10 * _M),
    (1050000, 15 * _M),
    (1500000, 20 * _M),
    (2700000, 30 * _M),
    (5400000, 1 * _H),
    (9000000, 2 * _H),
    (16200000, 3 * _H),
    (32400000, 6 * _H),
    (86400000, 12 * _H),
    (604800000, 1 * _D),
    (1814400000, 7 * _D),
    (3628800000, 30 * _D),
)
_YEAR = 365 * _D

#: rangeutil.describeInterval's units (``M`` = 30 days, ``y`` = 365 days)
_UNIT_MS: dict[str, float] = {
    "y": _YEAR,
    "M": 30 * _D,
    "w": 7 * _D,
    "d": _D,
    "h": _H,
    "m": _M,
    "s": _S,
    "ms": 1,
}
_INTERVAL = re.compile(r"^(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])")


class IntervalError(ValueError):
    """A min interval Grafana would not accept (it must be a number and a unit, e.g. 15m)."""


def round_interval(ms: float) -> int:
    """The nice interval Grafana rounds ``ms`` to (``rangeutil.roundInterval``)."""
    for below, nice in _NICE:
        if ms < below:
            return nice
    return _YEAR


def interval_to_ms(text: str) -> int:
    """``15m`` -> 900000, as ``rangeutil.intervalToMs`` reads a min interval."""
    text = text.strip()
    try:
        return int(float(text) * _S)  # unit-less means seconds
    except ValueError:
        pass
    m = _INTERVAL.match(text)
    if not m:
        raise IntervalError(
            f"min interval {text!r}: expected a number and one of "
            f"{', '.join(_UNIT_MS)} (for example 15m)"
        )
    return int(_UNIT_MS[m.group(2)] * int(float(m.group(1))))


def seconds_to_hms(seconds: float) -> str:
    """``rangeutil.secondsToHms``: the largest unit that is not zero (``10800`` -> ``3h``)."""
    year = _YEAR // _S
    if years := int(seconds // year):
        return f"{years}y"
    if days := int((seconds % year) // 86400):
        return f"{days}d"
    if hours := int((seconds % year % 86400) // 3600):
        return f"{hours}h"
    if minutes := int((seconds % year % 86400 % 3600) // 60):
        return f"{minutes}m"
    if secs := int(seconds % year % 86400 % 3600 % 60):
        return f"{secs}s"
    if ms := int(seconds * 1000):
        return f"{ms}ms"
    return "less than a millisecond"


@dataclass(frozen=True, kw_only=True)
class Interval:
    """``$__interval`` and ``$__interval_ms`` of one panel for one range."""

    text: str
    ms: int


def calculate_interval(
    range_ms: float, max_data_points: float, min_interval: str | None = None
) -> Interval:
    """``rangeutil.calculateInterval``: range / max data points, rounded, at least the min."""
    low = interval_to_ms(min_interval) if min_interval else 1
    ms = max(round_interval(range_ms / max_data_points), low)
    return Interval(text=seconds_to_hms(ms / _S), ms=ms)


def panel_interval(panel: Mapping[str, Any], range_ms: float) -> Interval:
    """The interval Grafana gives ``panel`` (its JSON) for a range of ``range_ms``.

    Max data points: the panel's, else :data:`DEFAULT_MAX_DATA_POINTS`; min interval: the
    panel's, else the datasource's :data:`DATASOURCE_MIN_INTERVAL`."""
    points = panel.get("maxDataPoints") or DEFAULT_MAX_DATA_POINTS
    return calculate_interval(range_ms, points, panel.get("interval") or DATASOURCE_MIN_INTERVAL)


@dataclass(frozen=True, kw_only=True)
class Resolution:
    """A panel's Max data points and Min interval (see docs/dashboards.md, "Speed")."""

    max_data_points: int
    min_interval: str | None = None


#: one line per device (up to hundreds): ~100 points per line are all a ~600 px panel
#: with a legend beside it can draw; at least 15 min, a typical LoRaWAN uplink interval,
#: so a bucket usually holds an uplink (6 h buckets for 30 days, 2 h for 7 days)
PER_DEVICE = Resolution(max_data_points=100, min_interval="15m")
#: slowly changing values per device (battery): hourly at the least
PER_DEVICE_SLOW = Resolution(max_data_points=100, min_interval="1h")
#: staff curves per device and sensor (temperature, CO2, water): 200 points keep the
#: daily cycle (3 h buckets for 30 days, 1 h for 7 days); at least 10 min
CITY_CURVE = Resolution(max_data_points=200, min_interval="10m")
#: sums or means over the fleet (a handful of lines or bars): more points, 300
FLEET = Resolution(max_data_points=300, min_interval="10m")
#: "silent" state timeline, one row per device: 200 cells across the full width, at least
#: an hour (red = a bucket without an uplink), so 7 days stay hourly and 30 days are 3 h
SILENT_TIMELINE = Resolution(max_data_points=200, min_interval="1h")
#: state timelines of alerts and parking spaces: few rows with changes that matter, 300
#: cells (the datasource's 1 min at the least)
STATE_TIMELINE = Resolution(max_data_points=300)
