"""The embedded time-series store: SQLite in WAL mode, the default without InfluxDB.

It follows InfluxDB 1.x semantics so that one contract suite
(``tests/storage/test_store_contract.py``) holds for both stores:

* a series is a measurement plus its tag set; tags with an empty value are dropped
  (as line protocol does), and a missing tag reads as ``""`` in ``where`` and ``group_by``;
* writing the same series and timestamp again overwrites the fields it names and keeps
  the others (primary key ``(series, field, time)``): writes are idempotent;
* ``query`` reads the float field ``value`` in ``[start, end)``; with ``interval_s`` it
  aggregates into buckets aligned to the Unix epoch and leaves out empty buckets —
  InfluxQL's ``GROUP BY time(...) fill(none)``, as ``InfluxStore`` asks;
* a non-finite float field (NaN, inf) is skipped, and a point left without fields is
  not written (InfluxDB cannot store them; ``storage/lineprotocol.py`` does the same);
* groups without any point in the range are not returned.

Thread safety: one connection per thread (WAL lets readers run beside the writer);
writes are serialised by a lock.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lorawan_monitor.errors import SinkRejectedError, SinkUnavailableError
from storage.base import (
    GROUP_AGGREGATES,
    Aggregate,
    FieldValue,
    GroupAggregate,
    Point,
    PointQuery,
    Series,
    SeriesPoint,
    WriteResult,
    to_ns,
)
from storage.lineprotocol import line, parse_line

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    tags TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS series_measurement ON series (measurement);
CREATE TABLE IF NOT EXISTS samples (
    series_id INTEGER NOT NULL REFERENCES series (id),
    field TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    value,
    PRIMARY KEY (series_id, field, time_ns)
) WITHOUT ROWID;
"""

_SQL_CMP = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}

_SQL_AGG: dict[str, str] = {
    "mean": "avg(value)",
    "min": "min(value)",
    "max": "max(value)",
    "sum": "sum(value)",
    "count": "count(value)",
}


def from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(
        microsecond=(ns % 1_000_000_000) // 1000
    )


def _series_key(measurement: str, tags: Mapping[str, str]) -> str:
    return json.dumps([measurement, sorted(tags.items())], separators=(",", ":"))


def _storable(v: FieldValue) -> bool:
    return not (isinstance(v, float) and not math.isfinite(v))


class SqliteStore:
    """``TimeSeriesStore`` on one SQLite file (``":memory:"`` is not supported: per-thread
    connections would each see their own empty database)."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._closed = False
        self._series_ids: dict[str, int] = {}
        with self._lock:
            conn = self._conn()
            conn.executescript(_SCHEMA)
            conn.commit()

    # -- connections -----------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise SinkUnavailableError("the SQLite store is closed")
            try:
                conn = sqlite3.connect(self.path, timeout=self._timeout, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise SinkUnavailableError(f"cannot open {self.path}: {exc}") from exc
            self._local.conn = conn
            self._conns.append(conn)
        return conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:  # locked, disk I/O, no such table ...
            raise SinkUnavailableError(f"SQLite store {self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise SinkRejectedError(f"SQLite store {self.path}: {exc}") from exc

    # -- writing ---------------------------------------------------------------------
    def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        rows: list[tuple[str, str, dict[str, str], str, int, FieldValue]] = []
        for p in points:
            tags = {k: v for k, v in p.tags.items() if v != ""}
            key = _series_key(p.measurement, tags)
            for name, value in p.fields.items():
                if _storable(value):
                    v = int(value) if isinstance(value, bool) else value
                    rows.append((key, p.measurement, tags, name, p.time_ns, v))
        with self._lock, self._errors():
            conn = self._conn()
            with conn:  # one transaction per batch
                for key, measurement, tags, name, time_ns, value in rows:
                    sid = self._series_ids.get(key)
                    if sid is None:
                        conn.execute(
                            "INSERT OR IGNORE INTO series (measurement, key, tags) VALUES (?, ?, ?)",
                            (measurement, key, json.dumps(tags, sort_keys=True)),
                        )
                        sid = int(
                            conn.execute("SELECT id FROM series WHERE key = ?", (key,)).fetchone()[
                                0
                            ]
                        )
                        self._series_ids[key] = sid
                    conn.execute(
                        "INSERT OR REPLACE INTO samples (series_id, field, time_ns, value)"
                        " VALUES (?, ?, ?, ?)",
                        (sid, name, time_ns, value),
                    )

    def write_lines(self, lines: Sequence[str]) -> WriteResult:
        """Write line-protocol lines (the buffer's format): each line is read back with
        the exact reader; an unreadable line or a refused point is isolated (the batch
        is split in halves until it stands alone) and reported, the rest is written."""
        result = WriteResult()
        points: list[Point] = []
        for ln in lines:
            if not ln:
                continue
            try:
                points.append(parse_line(ln))
            except ValueError as exc:
                result.unreadable_lines.append((ln, str(exc)))
        self._write_isolating(points, result)
        result.rejected = len(result.rejected_lines)
        return result

    def _write_isolating(self, points: list[Point], result: WriteResult) -> None:
        if not points:
            return
        try:
            self.write(points)
            result.written += len(points)
        except SinkRejectedError as exc:
            if len(points) == 1:
                result.rejected_lines.append((line(points[0]), str(exc)))
                result.reasons.append(str(exc))
                return
            mid = len(points) // 2
            self._write_isolating(points[:mid], result)
            self._write_isolating(points[mid:], result)

    def ensure_ready(self) -> None:
        """Nothing to prepare: the schema is created when the store is opened."""

    # -- reading ---------------------------------------------------------------------
    def _series(
        self, measurement: str, where: Mapping[str, str] | None
    ) -> list[tuple[int, dict[str, str]]]:
        rows = self._conn().execute(
            "SELECT id, tags FROM series WHERE measurement = ?", (measurement,)
        )
        out = []
        for sid, tags_json in rows:
            tags: dict[str, str] = json.loads(tags_json)
            if all(tags.get(k, "") == v for k, v in (where or {}).items()):
                out.append((int(sid), tags))
        return out

    def _groups(
        self, measurement: str, where: Mapping[str, str] | None, group_by: Sequence[str]
    ) -> dict[tuple[str, ...], list[int]]:
        groups: dict[tuple[str, ...], list[int]] = {}
        for sid, tags in self._series(measurement, where):
            groups.setdefault(tuple(tags.get(k, "") for k in group_by), []).append(sid)
        return groups

    def query(
        self,
        quantity: str,
        *,
        start: datetime,
        end: datetime,
        where: Mapping[str, str] | None = None,
        interval_s: int | None = None,
        aggregate: Aggregate = "mean",
        group_by: Sequence[str] = ("device", "sensor"),
    ) -> list[Series]:
        s_ns, e_ns = to_ns(start), to_ns(end)
        if interval_s is not None and interval_s <= 0:
            raise ValueError("interval_s must be positive")
        out: list[Series] = []
        with self._errors():
            conn = self._conn()
            for key, ids in sorted(self._groups(quantity, where, group_by).items()):
                marks = ",".join("?" * len(ids))
                base = (
                    f"FROM samples WHERE series_id IN ({marks}) AND field = 'value'"
                    " AND time_ns >= ? AND time_ns < ?"
                )
                params: list[int] = [*ids, s_ns, e_ns]
                if interval_s is None:
                    rows = conn.execute(
                        f"SELECT time_ns, value {base} ORDER BY time_ns, series_id", params
                    ).fetchall()
                    points = [SeriesPoint(time=from_ns(t), value=float(v)) for t, v in rows]
                else:
                    points = self._buckets(conn, base, params, interval_s, aggregate)
                if points:
                    out.append(
                        Series(
                            quantity=quantity,
                            tags=dict(zip(group_by, key, strict=True)),
                            points=points,
                        )
                    )
        return out

    @staticmethod
    def _buckets(
        conn: sqlite3.Connection,
        base: str,
        params: list[int],
        interval_s: int,
        aggregate: Aggregate,
    ) -> list[SeriesPoint]:
        iv = interval_s * 1_000_000_000
        if aggregate in ("first", "last"):
            pick = "min" if aggregate == "first" else "max"
            sql = f"SELECT time_ns - time_ns % {iv} AS b, value, {pick}(time_ns) {base} GROUP BY b"
        else:
            sql = f"SELECT time_ns - time_ns % {iv} AS b, {_SQL_AGG[aggregate]} {base} GROUP BY b"
        return [
            SeriesPoint(time=from_ns(int(b)), value=None if v is None else float(v))
            for b, v, *_ in conn.execute(sql + " ORDER BY b", params)
        ]

    def aggregate(
        self,
        quantity: str,
        *,
        start: datetime,
        end: datetime,
        aggregate: GroupAggregate,
        where: Mapping[str, str] | None = None,
        group_by: Sequence[str] = ("device", "sensor"),
    ) -> dict[tuple[str, ...], float]:
        if aggregate not in GROUP_AGGREGATES:
            raise ValueError(f"unknown aggregate {aggregate!r} (one of {GROUP_AGGREGATES})")
        with self._errors():
            group_of = {
                sid: tuple(tags.get(k, "") for k in group_by)
                for sid, tags in self._series(quantity, where)
            }
            if not group_of:
                return {}
            # one statement for every series of the measurement (a range scan of the
            # primary key per series); a group of several series is combined here
            rows = self._conn().execute(
                "SELECT p.series_id, count(p.value), sum(p.value), min(p.value), max(p.value)"
                " FROM series s JOIN samples p ON p.series_id = s.id"
                " WHERE s.measurement = ? AND p.field = 'value'"
                " AND p.time_ns >= ? AND p.time_ns < ? GROUP BY p.series_id",
                (quantity, to_ns(start), to_ns(end)),
            )
            acc: dict[tuple[str, ...], list[float]] = {}
            for sid, n, total, lo, hi in rows:
                key = group_of.get(int(sid))
                if key is None or not n:
                    continue
                a = acc.get(key)
                if a is None:
                    acc[key] = [float(n), float(total), float(lo), float(hi)]
                else:
                    a[0] += n
                    a[1] += total
                    a[2] = min(a[2], float(lo))
                    a[3] = max(a[3], float(hi))
        pick: dict[str, Callable[[list[float]], float]] = {
            "mean": lambda a: a[1] / a[0],
            "sum": lambda a: a[1],
            "count": lambda a: a[0],
            "min": lambda a: a[2],
            "max": lambda a: a[3],
        }
        fn = pick[aggregate]
        return {k: fn(a) for k, a in acc.items()}

    def count(self, measurement: str, where: Mapping[str, str] | None = None) -> int:
        with self._errors():
            ids = [sid for sid, _ in self._series(measurement, where)]
            if not ids:
                return 0
            marks = ",".join("?" * len(ids))
            row = (
                self._conn()
                .execute(
                    "SELECT count(*) FROM (SELECT DISTINCT series_id, time_ns FROM samples"
                    f" WHERE series_id IN ({marks}))",
                    ids,
                )
                .fetchone()
            )
            return int(row[0])

    def _point_sql(self, q: PointQuery) -> tuple[str, list[Any]] | None:
        ids = [sid for sid, _ in self._series(q.measurement, q.where)]
        if not ids:
            return None
        sql = f"FROM samples WHERE series_id IN ({','.join('?' * len(ids))}) AND field = 'value'"
        params: list[Any] = list(ids)
        if q.start is not None:
            sql += " AND time_ns >= ?"
            params.append(to_ns(q.start))
        if q.end is not None:
            sql += " AND time_ns < ?"
            params.append(to_ns(q.end))
        for op, value in q.values:
            sql += f" AND value {_SQL_CMP[op]} ?"
            params.append(float(value))
        return sql, params

    def read_points(self, q: PointQuery, *, limit: int, offset: int = 0) -> list[SeriesPoint]:
        with self._errors():
            built = self._point_sql(q)
            if built is None or limit <= 0:
                return []
            sql, params = built
            order = "DESC" if q.descending else "ASC"
            rows = (
                self._conn()
                .execute(
                    f"SELECT time_ns, value {sql} ORDER BY time_ns {order} LIMIT ? OFFSET ?",
                    [*params, int(limit), int(offset)],
                )
                .fetchall()
            )
            return [SeriesPoint(time=from_ns(int(t)), value=float(v)) for t, v in rows]

    def count_points(self, q: PointQuery) -> int:
        with self._errors():
            built = self._point_sql(q)
            if built is None:
                return 0
            sql, params = built
            return int(self._conn().execute(f"SELECT count(*) {sql}", params).fetchone()[0])

    def ping(self) -> bool:
        try:
            self._conn().execute("SELECT 1").fetchone()
        except (sqlite3.Error, SinkUnavailableError):
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._conns:
                conn.close()
            self._conns.clear()
            self._local = threading.local()
