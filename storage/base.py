"""The time-series store interface, shared by InfluxDB and the embedded SQLite store.

A ``Point`` is one line of InfluxDB line protocol: measurement, sorted tags, fields
and an integer nanosecond timestamp. Tags are deterministic, so the same uplink
always yields the same points (idempotent writes: a replay overwrites itself).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

FieldValue = float | int | bool | str
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ns(t: datetime) -> int:
    """Nanoseconds since the epoch, exact also before 1970 (``int(t.timestamp())`` rounds
    towards zero and shifts pre-1970 fractional times by +1 s); naive means UTC."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    d = t - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1000


Aggregate = Literal["mean", "min", "max", "sum", "count", "last", "first"]
#: what ``TimeSeriesStore.aggregate`` computes per group over a whole range
GroupAggregate = Literal["mean", "min", "max", "sum", "count"]
GROUP_AGGREGATES: tuple[GroupAggregate, ...] = ("mean", "min", "max", "sum", "count")


@dataclass(frozen=True, kw_only=True, slots=True)
class Point:
    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int


@dataclass(frozen=True, kw_only=True, slots=True)
class SeriesPoint:
    time: datetime
    value: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Series:
    """One series of a query result: a quantity for one device (+ sensor)."""

    quantity: str
    tags: Mapping[str, str]
    points: Sequence[SeriesPoint] = field(default_factory=tuple)


Comparison = Literal["eq", "ne", "gt", "ge", "lt", "le"]


@dataclass(frozen=True, kw_only=True, slots=True)
class PointQuery:
    """Raw points of one measurement's ``value`` field, filtered and paged in the store
    (the SensorThings API pushes ``$filter``, ``$orderby``, ``$top`` and ``$skip`` down
    here). ``where`` matches tags exactly (a missing tag reads as ""); ``values`` are
    comparisons on the value, all of which must hold; the time range is [start, end)."""

    measurement: str
    where: Mapping[str, str] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    values: Sequence[tuple[Comparison, float]] = ()
    descending: bool = False


@dataclass
class WriteResult:
    """What a ``write_lines`` did: lines written, and the ones refused with the reason
    (the ingest dead-letters those; they never stop the writer, #11)."""

    written: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    #: each line the store refused as malformed, with the store's reason
    rejected_lines: list[tuple[str, str]] = field(default_factory=list)
    #: each line that is not line protocol at all (nobody can read it), with the reason
    unreadable_lines: list[tuple[str, str]] = field(default_factory=list)


class TimeSeriesStore(Protocol):
    """What ingest writes to and the API / exports read from."""

    def write(self, points: Sequence[Point]) -> None:
        """Write points; raise SinkError subclasses (classified) on failure."""

    def write_lines(self, lines: Sequence[str]) -> WriteResult:
        """Write InfluxDB line-protocol lines — the internal point format: the durable
        buffer holds lines, and ingest hands them over as they are. A line the store
        refuses (or cannot read) is isolated and reported in the result, the others are
        written; an unreachable store raises ``SinkUnavailableError`` / ``SinkAuthError``."""

    def ensure_ready(self) -> None:
        """Prepare the store before the first write (InfluxDB: create the database);
        raises a SinkError when it is unreachable. Idempotent."""

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
        """Points of one measurement in [start, end), optionally downsampled."""

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
        """One aggregate of the ``value`` field over [start, end) per group, computed in
        the store (alert rules with ``mean``/``max``/``min`` over a window, #17). Keys are
        the ``group_by`` tag values in that order (a missing tag is ""); groups without a
        point in the range are left out. Equal to aggregating ``query``'s raw points."""

    def count(self, measurement: str, where: Mapping[str, str] | None = None) -> int:
        """Number of points of a measurement (tests, metrics)."""

    def read_points(self, q: PointQuery, *, limit: int, offset: int = 0) -> list[SeriesPoint]:
        """One page of raw points in time order (newest first when ``q.descending``)."""

    def count_points(self, q: PointQuery) -> int:
        """How many points ``q`` selects (without paging)."""

    def ping(self) -> bool:
        """True when the store is reachable."""

    def close(self) -> None: ...
