"""Aggregation on real stores (SQLite file, influxd): DST days, counters, states, coverage."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest

from opendata.aggregate import Aggregator, Row, parse_interval, periods
from storage.base import TimeSeriesStore
from tests.opendata.conftest import (
    BERLIN,
    ENV,
    NOINT,
    OCTOBER,
    PARK,
    PEOPLE,
    PRIVATE,
    STATIONS,
    WEEK,
    Truth,
    local,
)

MakeStore = Callable[[str, Truth], TimeSeriesStore]


def by_local_day(items: list[tuple[datetime, float]]) -> dict[date, list[float]]:
    out: dict[date, list[float]] = defaultdict(list)
    for t, v in items:
        out[t.astimezone(BERLIN).date()].append(v)
    return out


def pick(rows: list[Row], **kw: object) -> list[Row]:
    return [r for r in rows if all(getattr(r, k) == v for k, v in kw.items())]


def test_periods_follow_the_local_calendar() -> None:
    days = periods(*WEEK, "P1D")
    assert len(days) == 7
    hours = [(p.end - p.start).total_seconds() / 3600 for p in days]
    assert hours == [24, 24, 24, 24, 24, 24, 23]
    assert days[0].local == "2026-03-23T00:00:00+01:00"
    assert days[6].local == "2026-03-29T00:00:00+01:00"
    assert periods(*OCTOBER, "P1D")[1].end - periods(*OCTOBER, "P1D")[1].start == timedelta(
        hours=25
    )
    assert len(periods(date(2026, 3, 29), date(2026, 3, 30), "PT1H")) == 23
    assert len(periods(date(2026, 10, 25), date(2026, 10, 26), "PT1H")) == 25
    assert len(periods(date(2026, 3, 29), date(2026, 3, 30), "PT15M")) == 92
    months = periods(date(2026, 1, 15), date(2026, 4, 1), "P1M")
    assert [p.local[:10] for p in months] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert months[2].end - months[2].start == timedelta(days=31, hours=-1)
    assert parse_interval("1d") == "P1D"
    with pytest.raises(ValueError, match="interval"):
        parse_interval("2d")


def test_daily_week_crossing_dst(store_kind: str, make_store: MakeStore, week: Truth) -> None:
    store = make_store(store_kind, week)
    rows = Aggregator(store, STATIONS, min_people_count=5).rows(*WEEK, "P1D")
    # private devices are absent
    assert {r.station_id for r in rows} >= {ENV, PEOPLE, PARK, NOINT}
    assert PRIVATE not in {r.station_id for r in rows}
    # measurement: mean/min/max/count from the generated values, per local day
    temps = by_local_day(week.temps)
    means = pick(rows, station_id=ENV, quantity="temperature", statistic="mean")
    assert [r.period.start.astimezone(BERLIN).date() for r in means] == sorted(temps)
    for r in means:
        vals = temps[r.period.start.astimezone(BERLIN).date()]
        assert r.value == pytest.approx(statistics.mean(vals), abs=1e-4)
        assert r.count == len(vals)
        assert r.unit == "°C" and r.interval == "P1D"
    maxes = pick(rows, station_id=ENV, quantity="temperature", statistic="max")
    assert [r.value for r in maxes] == [max(temps[d]) for d in sorted(temps)]
    # coverage: full days 1.0, the gap day 18 h of 24, the DST day 23 h worth of uplinks
    cov = {r.period.local[:10]: r.coverage for r in means}
    assert cov["2026-03-23"] == 1.0 and cov["2026-03-29"] == 1.0
    assert cov["2026-03-25"] == pytest.approx(0.75)
    dst = pick(means, period=means[-1].period)[0]
    assert dst.count == 23 * 6
    # interval counts: daily sums
    people = by_local_day(week.people_in)
    sums = pick(rows, station_id=PEOPLE, quantity="people_in")
    assert [(r.statistic, r.value) for r in sums] == [
        ("sum", sum(people[d])) for d in sorted(people)
    ]
    # cumulative counter: the daily increase equals the generated increments, reset included
    incs = by_local_day(week.increments)
    increase = pick(rows, station_id=PEOPLE, quantity="people_in_total")
    assert [r.value for r in increase] == [sum(incs.get(d, [])) for d in sorted(people)]
    reset_day = week.reset_at.astimezone(BERLIN).date() if week.reset_at else None
    assert reset_day in {r.period.start.astimezone(BERLIN).date() for r in increase}
    # state: occupied 08-18 local = 10 h of a 24 h day, of the 23 h DST day
    share = pick(rows, station_id=PARK, quantity="occupied")
    assert [r.statistic for r in share] == ["time_share"] * 7
    assert [r.value for r in share] == [round(10 / 24, 4)] * 6 + [round(10 / 23, 4)]
    # no expected interval: coverage from the median spacing (every 10 min -> 1.0)
    assert {r.coverage for r in pick(rows, station_id=NOINT, statistic="mean")} == {1.0}
    # site rows pool the devices of a site
    harbour = pick(rows, station_id="site:harbour", quantity="temperature", statistic="mean")
    assert harbour[0].level == "site"
    d0 = temps[WEEK[0]]
    assert harbour[0].value == pytest.approx((sum(d0) + 5.0 * 144) / (len(d0) + 144), abs=1e-4)


def test_hourly_dst_day_has_23_rows_and_suppression(
    store_kind: str, make_store: MakeStore, week: Truth
) -> None:
    store = make_store(store_kind, week)
    day = date(2026, 3, 29)
    rows = Aggregator(store, STATIONS, min_people_count=5).rows(day, day + timedelta(days=1), "1h")
    means = pick(rows, station_id=ENV, quantity="temperature", statistic="mean")
    assert len(means) == 23
    assert means[2].period.local == "2026-03-29T03:00:00+02:00"  # 02:00 local does not exist
    # people_in per hour: 4 readings of 0..3 -> 6 per hour, >= 5 -> published
    hourly = pick(rows, station_id=PEOPLE, quantity="people_in")
    assert (
        len(hourly) == 23 and {r.value for r in hourly} == {6.0} and not any(r.flag for r in hourly)
    )
    # per 15 min the values 1..3 are below the minimum: blank + flag; 0 stays
    q = Aggregator(store, STATIONS, min_people_count=5).rows(
        day, day + timedelta(days=1), "15m", quantities=["people_in"]
    )
    dev = pick(q, station_id=PEOPLE)
    assert len(dev) == 92
    assert {(r.value, r.flag) for r in dev} == {(0.0, ""), (None, "suppressed")}
    assert sum(1 for r in dev if r.flag) == 69


def test_october_dst_day_has_25_hours(
    store_kind: str, make_store: MakeStore, october: Truth
) -> None:
    store = make_store(store_kind, october)
    day = date(2026, 10, 25)
    agg = Aggregator(store, STATIONS)
    hourly = pick(agg.rows(day, day + timedelta(days=1), "PT1H"), station_id=ENV, statistic="mean")
    assert len(hourly) == 25
    assert [r.period.local for r in hourly[2:4]] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]
    daily = pick(agg.rows(*OCTOBER, "P1D"), station_id=PARK, quantity="occupied")
    assert [r.value for r in daily] == [round(10 / 24, 4), round(10 / 25, 4), round(10 / 24, 4)]
    counts = pick(agg.rows(*OCTOBER, "P1D"), station_id=ENV, statistic="mean")
    per_day = by_local_day(october.temps)
    assert [r.count for r in counts] == [len(per_day[d]) for d in sorted(per_day)]
    assert [r.count for r in counts][:2] == [144, 150]  # 24 h and 25 h of 10-min readings


def test_influx_and_sqlite_give_the_same_rows(make_store: MakeStore, week: Truth) -> None:
    sqlite = make_store("sqlite", week)
    influx = make_store("influx", week)
    for interval in ("P1D", "PT1H"):
        a = Aggregator(sqlite, STATIONS).rows(*WEEK, interval)  # type: ignore[arg-type]
        b = Aggregator(influx, STATIONS).rows(*WEEK, interval)  # type: ignore[arg-type]
        assert len(a) > 1000 if interval == "PT1H" else len(a) > 50
        assert a == b


def test_counter_reset_inside_an_hour_is_counted(
    store_kind: str, make_store: MakeStore, week: Truth
) -> None:
    store = make_store(store_kind, week)
    assert week.reset_at is not None
    day = week.reset_at.astimezone(BERLIN).date()
    rows = Aggregator(store, STATIONS).rows(day, day + timedelta(days=1), "PT1H")
    hour = pick(rows, station_id=PEOPLE, quantity="people_in_total")
    at = {r.period.start: r.value for r in hour}
    expected = sum(v for t, v in week.increments if local(day, 13) <= t < local(day, 14))
    assert at[local(day, 13)] == expected > 0
