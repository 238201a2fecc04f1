"""One contract for every time-series store: the embedded SqliteStore and InfluxStore.

The InfluxStore runs against the real ``influxd`` fixture. The semantics pinned here are
InfluxDB 1.x's own (checked against influxd 1.6.7): empty tags are dropped, a missing tag
reads as "", a rewrite of the same series+time overwrites, ``GROUP BY time()`` buckets are
epoch-aligned and empty ones are left out (``fill(none)``), non-finite values are not stored.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.base import Point, TimeSeriesStore
from storage.sqlite import SqliteStore, from_ns, to_ns
from tests.conftest import influx_store_for

T0 = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "influx"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TimeSeriesStore]:
    s: TimeSeriesStore
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "ts.db")
    else:
        s = influx_store_for(request)
    yield s
    s.close()


def pt(
    q: str, minute: float, value: float, device: str = "d1", sensor: str = "", **tags: str
) -> Point:
    t = T0 + timedelta(minutes=minute)
    return Point(
        measurement=q,
        tags={"device": device, "sensor": sensor, **tags},
        fields={"value": float(value)},
        time_ns=to_ns(t),
    )


def values(series_points: object) -> list[float | None]:
    return [p.value for p in series_points]  # type: ignore[attr-defined]


def test_ns_roundtrip() -> None:
    t = datetime(2026, 3, 29, 1, 59, 59, 123456, tzinfo=UTC)
    assert from_ns(to_ns(t)) == t
    assert to_ns(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1_000_000_000


def test_write_then_raw_query_returns_points_in_order(store: TimeSeriesStore) -> None:
    store.write([pt("temperature", 10, 3.5), pt("temperature", 0, 1.25), pt("temperature", 5, 2)])
    [s] = store.query("temperature", start=T0, end=T0 + timedelta(hours=1))
    assert s.quantity == "temperature"
    assert dict(s.tags) == {"device": "d1", "sensor": ""}
    assert [p.time for p in s.points] == [T0 + timedelta(minutes=m) for m in (0, 5, 10)]
    assert values(s.points) == [1.25, 2.0, 3.5]


def test_range_is_half_open(store: TimeSeriesStore) -> None:
    store.write([pt("co2", 0, 400), pt("co2", 60, 500), pt("co2", 59.99, 450)])
    [s] = store.query("co2", start=T0, end=T0 + timedelta(hours=1))
    assert values(s.points) == [400.0, 450.0]
    assert store.query("co2", start=T0 + timedelta(hours=2), end=T0 + timedelta(hours=3)) == []


def test_same_series_and_time_overwrites(store: TimeSeriesStore) -> None:
    store.write([pt("temperature", 0, 1.0), pt("temperature", 1, 2.0)])
    store.write([pt("temperature", 0, 9.0), pt("temperature", 1, 2.0)])
    assert store.count("temperature") == 2
    [s] = store.query("temperature", start=T0, end=T0 + timedelta(hours=1))
    assert values(s.points) == [9.0, 2.0]


def test_other_tags_make_other_series(store: TimeSeriesStore) -> None:
    store.write([pt("temperature", 0, 1.0), pt("temperature", 0, 2.0, sensor="probe")])
    assert store.count("temperature") == 2
    assert store.count("temperature", where={"sensor": "probe"}) == 1
    assert store.count("temperature", where={"sensor": ""}) == 1
    got = store.query("temperature", start=T0, end=T0 + timedelta(hours=1))
    assert sorted((s.tags["sensor"], values(s.points)[0]) for s in got) == [
        ("", 1.0),
        ("probe", 2.0),
    ]


def test_where_filters_on_tags(store: TimeSeriesStore) -> None:
    store.write(
        [
            pt("people_in", 0, 3, device="a", site="beach"),
            pt("people_in", 0, 4, device="b", site="harbour"),
            pt("people_in", 15, 5, device="a", site="beach"),
        ]
    )
    got = store.query("people_in", start=T0, end=T0 + timedelta(hours=1), where={"site": "beach"})
    assert [(s.tags["device"], values(s.points)) for s in got] == [("a", [3.0, 5.0])]
    assert (
        store.query("people_in", start=T0, end=T0 + timedelta(hours=1), where={"site": "x"}) == []
    )


def test_group_by_other_tags_merges_series(store: TimeSeriesStore) -> None:
    store.write(
        [
            pt("people_in", 0, 3, device="a", site="beach"),
            pt("people_in", 5, 4, device="b", site="beach"),
            pt("people_in", 10, 5, device="c", site="harbour"),
        ]
    )
    got = store.query(
        "people_in", start=T0, end=T0 + timedelta(hours=1), group_by=("site", "category")
    )
    assert [(dict(s.tags), values(s.points)) for s in got] == [
        ({"site": "beach", "category": ""}, [3.0, 4.0]),
        ({"site": "harbour", "category": ""}, [5.0]),
    ]


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [
        ("mean", [2.0, 10.0]),
        ("min", [1.0, 10.0]),
        ("max", [3.0, 10.0]),
        ("sum", [6.0, 10.0]),
        ("count", [3.0, 1.0]),
        ("first", [1.0, 10.0]),
        ("last", [3.0, 10.0]),
    ],
)
def test_downsampling_buckets(
    store: TimeSeriesStore, aggregate: str, expected: list[float | None]
) -> None:
    # bucket 00:00 holds 1, 2, 3 (written out of order), 00:15 is empty, 00:30 holds 10
    store.write(
        [pt("temperature", 14, 3), pt("temperature", 1, 1), pt("temperature", 7, 2)]
        + [pt("temperature", 30, 10)]
    )
    [s] = store.query(
        "temperature",
        start=T0,
        end=T0 + timedelta(minutes=45),
        interval_s=900,
        aggregate=aggregate,  # type: ignore[arg-type]
    )
    assert [p.time for p in s.points] == [T0 + timedelta(minutes=m) for m in (0, 30)]
    assert values(s.points) == expected


def test_buckets_are_epoch_aligned_from_start_to_end(store: TimeSeriesStore) -> None:
    store.write([pt("co2", 20, 400), pt("co2", 50, 600)])
    start, end = T0 + timedelta(minutes=10), T0 + timedelta(minutes=70)
    [s] = store.query("co2", start=start, end=end, interval_s=1800, aggregate="mean")
    # bucket 00:00 starts before ``start`` and holds only points >= start; 01:00 is empty
    assert [p.time for p in s.points] == [T0 + timedelta(minutes=m) for m in (0, 30)]
    assert values(s.points) == [400.0, 600.0]


def test_downsampling_groups_by_device(store: TimeSeriesStore) -> None:
    store.write([pt("co2", 0, 400, device="a"), pt("co2", 1, 600, device="a")])
    store.write([pt("co2", 2, 1000, device="b")])
    got = store.query(
        "co2", start=T0, end=T0 + timedelta(minutes=15), interval_s=900, aggregate="mean"
    )
    assert [(s.tags["device"], values(s.points)) for s in got] == [("a", [500.0]), ("b", [1000.0])]


def test_count_measurement_without_value_field(store: TimeSeriesStore) -> None:
    up = [
        Point(
            measurement="lorawan_uplink",
            tags={"device": "d1", "dr": "5"},
            fields={"rssi": -80.0, "f_cnt": i, "decode_ok": True},
            time_ns=to_ns(T0) + i * 60_000_000_000,
        )
        for i in range(5)
    ]
    store.write(up)
    store.write(up[:2])
    assert store.count("lorawan_uplink") == 5
    assert store.count("lorawan_uplink", where={"device": "d2"}) == 0
    assert store.count("nothing_here") == 0


def test_non_finite_values_are_not_stored(store: TimeSeriesStore) -> None:
    store.write([pt("temperature", 0, float("nan")), pt("temperature", 1, 2.0)])
    store.write([pt("temperature", 2, float("inf"))])
    assert store.count("temperature") == 1
    [s] = store.query("temperature", start=T0, end=T0 + timedelta(hours=1))
    assert values(s.points) == [2.0]


def test_empty_write_and_ping(store: TimeSeriesStore) -> None:
    store.write([])
    assert store.ping() is True


def test_sqlite_reader_threads_beside_one_writer(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "ts.db")
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for batch in range(50):
                store.write([pt("temperature", batch * 10 + i, float(i)) for i in range(10)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:
        try:
            while not done.is_set():
                n = store.count("temperature")
                got = store.query("temperature", start=T0, end=T0 + timedelta(days=1))
                assert n >= 0 and len(got) <= 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert store.count("temperature") == 500
    store.close()
    assert store.ping() is False  # a closed store answers, never raises
    reopened = SqliteStore(tmp_path / "ts.db")
    assert reopened.count("temperature") == 500  # durable across reopen
    mode = reopened._conn().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    reopened.close()


# -- raw points, filtered and paged in the store (SensorThings pushdown, #18) ------------


def test_read_points_pages_filters_and_orders_in_the_store(store: TimeSeriesStore) -> None:
    from storage.base import PointQuery

    store.write([pt("temperature", m, m / 2) for m in range(20)])
    store.write([pt("temperature", m, 99.0, device="d2") for m in range(5)])
    store.write([pt("temperature", m, -5.0, sensor="probe") for m in range(3)])
    q = PointQuery(measurement="temperature", where={"device": "d1", "sensor": ""})
    assert store.count_points(q) == 20
    page = store.read_points(q, limit=5, offset=5)
    assert [p.time for p in page] == [T0 + timedelta(minutes=m) for m in range(5, 10)]
    newest = store.read_points(
        PointQuery(
            measurement="temperature", where={"device": "d1", "sensor": ""}, descending=True
        ),
        limit=3,
    )
    assert values(newest) == [9.5, 9.0, 8.5]
    window = PointQuery(
        measurement="temperature",
        where={"device": "d1", "sensor": ""},
        start=T0 + timedelta(minutes=4),
        end=T0 + timedelta(minutes=12),
        values=(("ge", 3.0), ("ne", 4.0)),
    )
    assert values(store.read_points(window, limit=100)) == [3.0, 3.5, 4.5, 5.0, 5.5]
    assert store.count_points(window) == 5
    probe = PointQuery(measurement="temperature", where={"device": "d1", "sensor": "probe"})
    assert values(store.read_points(probe, limit=10)) == [-5.0, -5.0, -5.0]
    assert store.read_points(PointQuery(measurement="nothing"), limit=10) == []
    assert store.count_points(PointQuery(measurement="nothing")) == 0


def test_write_lines_is_the_one_write_path_and_isolates_a_bad_line(store: TimeSeriesStore) -> None:
    """Line protocol is the internal point format (#12): both stores take the buffer's
    lines as they are, write the good ones and report the bad one with a reason."""
    t = to_ns(T0)
    good = [f"temperature,device=d{i} value={i}.5 {t + i}" for i in range(5)]
    bad = f"temperature,device=x value= {t + 99}"  # a field without a value
    res = store.write_lines([*good[:2], bad, *good[2:]])
    assert res.written == 5
    refused = [ln for ln, _ in res.rejected_lines + res.unreadable_lines]
    assert refused == [bad]
    assert all(why for _, why in res.rejected_lines + res.unreadable_lines)
    assert store.count("temperature") == 5
    store.ensure_ready()  # idempotent, and the data stays
    assert store.count("temperature") == 5


@pytest.mark.parametrize("aggregate", ["mean", "min", "max", "sum", "count"])
def test_grouped_aggregate_equals_the_raw_computation(
    store: TimeSeriesStore, aggregate: str
) -> None:
    """``aggregate`` (pushed down: SQL / InfluxQL) gives per group what aggregating the raw
    points of ``query`` gives; two series of one device (other tags) are one group, points
    outside [start, end) and groups without points are left out, ``where`` filters (#17)."""
    import random

    rng = random.Random(17)
    pts = []
    for d in range(6):
        for k in range(25):
            extra = {"model": "a/b" if k % 2 else "c/d"}  # two series for one device
            pts.append(pt("water_level", k, round(rng.uniform(-1, 3), 3), f"d{d}", **extra))
    pts.append(pt("water_level", 3, 9.0, "d0", sensor="probe"))
    pts.append(pt("water_level", 120, 50.0, "d1"))  # outside the range
    pts.append(pt("water_level", 0, 7.0, "x1", site="elsewhere"))
    store.write(pts)
    start, end = T0, T0 + timedelta(minutes=60)
    raw: dict[tuple[str, ...], list[float]] = {}
    for s in store.query("water_level", start=start, end=end):
        key = (s.tags.get("device", ""), s.tags.get("sensor", ""))
        raw.setdefault(key, []).extend(p.value for p in s.points if p.value is not None)
    fns = {"mean": lambda xs: sum(xs) / len(xs), "min": min, "max": max, "sum": sum, "count": len}
    expected = {k: float(fns[aggregate](xs)) for k, xs in raw.items()}
    got = store.aggregate("water_level", start=start, end=end, aggregate=aggregate)  # type: ignore[arg-type]
    assert set(got) == set(expected) and len(got) == 8  # d0..d5, d0/probe, x1
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-12), k
    assert ("d1", "") in got and got[("d1", "")] != 50.0
    only = store.aggregate(
        "water_level", start=start, end=end, aggregate="max", where={"site": "elsewhere"}
    )
    assert only == {("x1", ""): 7.0}
    assert store.aggregate("co2", start=start, end=end, aggregate="mean") == {}
    with pytest.raises(ValueError, match="unknown aggregate 'median'"):
        store.aggregate("water_level", start=start, end=end, aggregate="median")  # type: ignore[arg-type]
