"""A simulated week (and an October DST day) of readings, written into real stores.

Everything the tests expect is computed from the same generator (``Truth``), never typed
in: means from the generated values, counter increases from the generated increments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from opendata.stations import Station
from storage.base import Point, TimeSeriesStore
from storage.sqlite import SqliteStore, to_ns
from tests.conftest import influx_store_for

BERLIN = ZoneInfo("Europe/Berlin")
ENV, PEOPLE, PARK, PRIVATE, NOINT = (
    "A84041000181C0DE",
    "A84041000181BEEF",
    "A84041000181CAFE",
    "A84041000181DEAD",
    "A84041000181F00D",
)
STATIONS = [
    Station(station_id=ENV, name="Hafen Klima", category="environment", site="harbour",
            latitude=54.69, longitude=8.57, model="dragino/lht65", expected_interval_s=600),
    Station(station_id=PEOPLE, name="Strandzugang", category="tourism", site="beach",
            latitude=54.70, longitude=8.58, model="acme/counter", expected_interval_s=900),
    Station(station_id=PARK, name="Parkplatz 1", category="traffic", site="lot",
            latitude=54.71, longitude=8.59, model="acme/park", expected_interval_s=1800),
    Station(station_id=NOINT, name="Ohne Intervall", category="environment", site="harbour",
            latitude=54.72, longitude=8.60, model="dragino/lht65"),
]  # fmt: skip


def local(d: date, hour: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=BERLIN).astimezone(UTC)


@dataclass
class Truth:
    first: date
    end: date
    points: list[Point] = field(default_factory=list)
    temps: list[tuple[datetime, float]] = field(default_factory=list)  # ENV
    people_in: list[tuple[datetime, float]] = field(default_factory=list)
    increments: list[tuple[datetime, float]] = field(default_factory=list)  # people_in_total
    occupied: list[tuple[datetime, float]] = field(default_factory=list)
    gap: tuple[datetime, datetime] | None = None
    reset_at: datetime | None = None


def _p(q: str, dev: str, t: datetime, v: float, sensor: str = "") -> Point:
    tags = {"dev_eui": dev, "device": dev.lower(), "sensor": sensor, "application": "app"}
    return Point(measurement=q, tags=tags, fields={"value": float(v)}, time_ns=to_ns(t))


def simulate(first: date, end: date) -> Truth:
    tr = Truth(first=first, end=end)
    t0, t1 = local(first), local(end)
    # ENV: temperature every 10 min, no readings for 6 h on the third day
    tr.gap = (local(first + timedelta(days=2), 6), local(first + timedelta(days=2), 12))
    t = t0
    while t < t1:
        if not (tr.gap[0] <= t < tr.gap[1]):
            v = ((int(t.timestamp()) // 600) % 8) * 0.5 - 1.0
            tr.temps.append((t, v))
            tr.points.append(_p("temperature", ENV, t, v))
            tr.points.append(_p("temperature", PRIVATE, t, 99.0))  # private: must not appear
        tr.points.append(_p("temperature", NOINT, t + timedelta(minutes=3), 5.0))
        t += timedelta(minutes=10)
    # PEOPLE: per-interval counts every 15 min + a cumulative counter that resets once
    total, t = 0.0, t0
    tr.reset_at = local(first + timedelta(days=4), 13)
    while t < t1:
        n = float((int(t.timestamp()) // 900) % 4)  # 0..3 people per 15 min
        tr.people_in.append((t, n))
        tr.points.append(_p("people_in", PEOPLE, t, n))
        inc = n + 1.0
        total = inc if t == tr.reset_at else total + inc
        if t > t0:  # the very first reading is the baseline (no increase known)
            tr.increments.append((t, inc))
        tr.points.append(_p("people_in_total", PEOPLE, t, total))
        t += timedelta(minutes=15)
    # PARK: occupied from 08:00 to 18:00 local time every day, reported every 30 min
    t = t0
    while t < t1:
        h = t.astimezone(BERLIN).hour
        v = 1.0 if 8 <= h < 18 else 0.0
        tr.occupied.append((t, v))
        tr.points.append(_p("occupied", PARK, t, v))
        t += timedelta(minutes=30)
    return tr


WEEK = (date(2026, 3, 23), date(2026, 3, 30))  # DST starts 2026-03-29 (23 h)
OCTOBER = (date(2026, 10, 24), date(2026, 10, 27))  # DST ends 2026-10-25 (25 h)


@pytest.fixture(scope="session")
def week() -> Truth:
    return simulate(*WEEK)


@pytest.fixture(scope="session")
def october() -> Truth:
    return simulate(*OCTOBER)


@pytest.fixture(params=["sqlite", "influx"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    made: list[TimeSeriesStore] = []

    def make(kind: str, truth: Truth) -> TimeSeriesStore:
        s = (
            SqliteStore(tmp_path / f"ts{len(made)}.db")
            if kind == "sqlite"
            else influx_store_for(request)
        )
        for i in range(0, len(truth.points), 5000):
            s.write(truth.points[i : i + 5000])
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
