"""Aggregation of readings into OpenData rows, the same on every TimeSeriesStore.

Periods are 15 min, 1 h, 1 day or 1 month. Days and months are calendar periods in
local time (Europe/Berlin by default), so a day is 23 or 25 hours long when the clocks
change; every timestamp is UTC and each row states its local period as well.

How each quantity ``kind`` (``decoders.quantities.CATALOGUE``) is aggregated:

* ``measurement``      mean, min, max (and the count of readings)
* ``interval_count``   sum of the per-uplink counts
* ``cumulative_count`` increase of a running counter: the differences between
  consecutive readings, where a drop means the counter was reset and the new reading is
  the increase since the reset; the first reading of a device is its baseline
* ``state``            time-weighted mean: each reading holds until the next one (at most
  twice the device's reporting interval); for 0/1 states this is the share of time (e.g.
  share of time a parking space was occupied)

How the stores are used: the store does the heavy part through its ``query`` contract
(``GROUP BY time(15m|1h)`` count/sum/min/max buckets on InfluxDB, the same buckets in
SQL on SQLite); those buckets are rolled up here to days and months along the local
calendar. Roll-up is exact (sum, count, min, max compose), it works for months (which
InfluxQL cannot group by) and it does not depend on InfluxQL's ``tz()`` handling of
DST days. Counters and states need consecutive readings, so they read raw points.

``coverage`` = readings received / readings expected in the period, where expected =
period length / the device's expected interval (registry), else / the median spacing of
its readings; capped at 1.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from decoders.quantities import CATALOGUE, Quantity, QuantityInfo
from opendata.stations import Station
from storage.base import Aggregate, Series, TimeSeriesStore

Interval = Literal["PT15M", "PT1H", "P1D", "P1M"]
INTERVALS: dict[str, Interval] = {
    "15m": "PT15M",
    "1h": "PT1H",
    "1d": "P1D",
    "1mo": "P1M",
    "PT15M": "PT15M",
    "PT1H": "PT1H",
    "P1D": "P1D",
    "P1M": "P1M",
}
Level = Literal["device", "site"]

#: device-health and position quantities: not part of the OpenData export
NOT_EXPORTED = frozenset(
    {
        Quantity.BATTERY,
        Quantity.BATTERY_VOLTAGE,
        Quantity.LATITUDE,
        Quantity.LONGITUDE,
        Quantity.ALTITUDE,
        Quantity.ANALOG,
        Quantity.DIGITAL,
        Quantity.ACCELERATION,
        Quantity.ANGULAR_VELOCITY,
        Quantity.TILT,
    }
)
#: people counts: small values are suppressed (privacy)
PEOPLE = frozenset(
    {
        Quantity.PEOPLE_IN,
        Quantity.PEOPLE_OUT,
        Quantity.PEOPLE_IN_TOTAL,
        Quantity.PEOPLE_OUT_TOTAL,
        Quantity.PEOPLE_COUNT,
    }
)
GROUP_BY = ("dev_eui", "sensor")
LOOKBACK = timedelta(days=1)
_STAT_ORDER = {"mean": 0, "min": 1, "max": 2, "sum": 3, "increase": 4, "time_share": 5}


def parse_interval(text: str) -> Interval:
    try:
        return INTERVALS[text]
    except KeyError:
        raise ValueError(f"interval must be one of 15m, 1h, 1d, 1mo (got {text!r})") from None


@dataclass(frozen=True, kw_only=True, slots=True)
class Period:
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    local: str  # local start, ISO 8601 with offset


@dataclass(frozen=True, kw_only=True, slots=True)
class Row:
    station_id: str
    level: Level
    quantity: str
    sensor: str
    unit: str
    statistic: str
    interval: Interval
    period: Period
    value: float | None
    count: int
    coverage: float | None
    flag: str = ""  # "suppressed" when a small people count was blanked


def periods(first: date, end: date, interval: Interval, tz: str = "Europe/Berlin") -> list[Period]:
    """Periods covering the local dates ``[first, end)``."""
    zone = ZoneInfo(tz)

    def local_midnight(d: date) -> datetime:
        return datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC)

    def period(s: datetime, e: datetime) -> Period:
        return Period(start=s, end=e, local=s.astimezone(zone).isoformat())

    out: list[Period] = []
    if interval in ("PT15M", "PT1H"):
        step = timedelta(minutes=15 if interval == "PT15M" else 60)
        t, stop = local_midnight(first), local_midnight(end)
        while t < stop:
            out.append(period(t, t + step))
            t += step
    elif interval == "P1D":
        d = first
        while d < end:
            out.append(period(local_midnight(d), local_midnight(d + timedelta(days=1))))
            d += timedelta(days=1)
    else:
        d = first.replace(day=1)
        while d < end:
            nxt = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
            out.append(period(local_midnight(d), local_midnight(nxt)))
            d = nxt
    return out


@dataclass(kw_only=True, slots=True)
class _Cell:
    """Running sums for one (station, sensor, quantity, period)."""

    count: int = 0
    total: float = 0.0
    lo: float | None = None
    hi: float | None = None
    weighted: float = 0.0  # state: value x seconds
    known: float = 0.0  # state: seconds with a known value
    expected: float | None = 0.0

    def merge(self, other: _Cell) -> None:
        self.count += other.count
        self.total += other.total
        if other.lo is not None:
            self.lo = other.lo if self.lo is None else min(self.lo, other.lo)
        if other.hi is not None:
            self.hi = other.hi if self.hi is None else max(self.hi, other.hi)
        self.weighted += other.weighted
        self.known += other.known
        if self.expected is None or other.expected is None:
            self.expected = None
        else:
            self.expected += other.expected


_Key = tuple[str, str, int]  # station_id, sensor, period index


class Aggregator:
    """Aggregate one export: stations x quantities x periods."""

    def __init__(
        self,
        store: TimeSeriesStore,
        stations: Sequence[Station],
        *,
        tz: str = "Europe/Berlin",
        min_people_count: int = 5,
    ) -> None:
        self.store = store
        self.stations = {s.station_id: s for s in stations}
        self.tz = tz
        self.min_people_count = min_people_count

    def rows(
        self,
        first: date,
        end: date,
        interval: Interval | str,
        *,
        quantities: Iterable[str] | None = None,
        sites: bool = True,
    ) -> list[Row]:
        interval = parse_interval(interval)
        ps = periods(first, end, interval, self.tz)
        if not ps or not self.stations:
            return []
        names = (
            list(quantities)
            if quantities is not None
            else [q.value for q in CATALOGUE if q not in NOT_EXPORTED]
        )
        out: list[Row] = []
        for name in names:
            info = CATALOGUE[Quantity(name)]
            cells = self._cells(info, ps, interval)
            if not cells:
                continue
            out += self._to_rows(info, cells, ps, interval, "device")
            if sites:
                site_cells: dict[_Key, _Cell] = {}
                for (sid, sensor, i), c in cells.items():
                    site = self.stations[sid].site
                    if site:
                        site_cells.setdefault((f"site:{site}", sensor, i), _Cell()).merge(c)
                out += self._to_rows(info, site_cells, ps, interval, "site")
        out.sort(
            key=lambda r: (
                r.level != "device",
                r.station_id,
                r.quantity,
                r.sensor,
                r.period.start,
                _STAT_ORDER.get(r.statistic, 9),
            )
        )
        return out

    # -- collection -----------------------------------------------------------------
    def _station(self, s: Series) -> tuple[str, str] | None:
        sid = s.tags.get("dev_eui", "")
        return (sid, s.tags.get("sensor", "")) if sid in self.stations else None

    def _cells(self, info: QuantityInfo, ps: list[Period], interval: Interval) -> dict[_Key, _Cell]:
        start, end = ps[0].start, ps[-1].end
        starts = [p.start for p in ps]

        def index(t: datetime) -> int | None:
            i = bisect.bisect_right(starts, t) - 1
            return i if i >= 0 and t < ps[i].end else None

        cells: dict[_Key, _Cell] = {}
        q = info.name.value
        if info.kind in ("measurement", "interval_count"):
            base = 900 if interval == "PT15M" else 3600
            aggs: tuple[Aggregate, ...] = (
                ("count", "sum", "min", "max") if info.kind == "measurement" else ("count", "sum")
            )
            for agg in aggs:
                for s in self.store.query(
                    q, start=start, end=end, interval_s=base, aggregate=agg, group_by=GROUP_BY
                ):
                    st = self._station(s)
                    for p in s.points if st else ():
                        i = index(p.time)
                        if i is None or p.value is None:
                            continue
                        c = cells.setdefault((*st, i), _Cell())  # type: ignore[misc]
                        if agg == "count":
                            c.count += int(p.value)
                        elif agg == "sum":
                            c.total += p.value
                        elif agg == "min":
                            c.lo = p.value if c.lo is None else min(c.lo, p.value)
                        else:
                            c.hi = p.value if c.hi is None else max(c.hi, p.value)
            spacing = self._spacings(q, start, end, {k[0] for k in cells})
        else:
            raw = self.store.query(q, start=start - LOOKBACK, end=end, group_by=GROUP_BY)
            spacing = {}
            for s in raw:
                st = self._station(s)
                if not st:
                    continue
                spacing[st[0]] = self._interval(st[0], s)
                times = [p.time for p in s.points]
                vals = [p.value if p.value is not None else 0.0 for p in s.points]
                for k, (t, v) in enumerate(zip(times, vals, strict=True)):
                    i = index(t)
                    if i is not None:
                        cells.setdefault((*st, i), _Cell()).count += 1
                    if info.kind == "cumulative_count":
                        if i is not None and k > 0:
                            prev = vals[k - 1]
                            cells[(*st, i)].total += v - prev if v >= prev else v
                        continue
                    hold = 2 * (spacing[st[0]] or LOOKBACK.total_seconds())
                    nxt = times[k + 1] if k + 1 < len(times) else end
                    seg_end = min(nxt, t + timedelta(seconds=hold), end)
                    self._spread(cells, st, ps, index, max(t, start), seg_end, v)
        for (sid, _sensor, i), c in cells.items():
            iv = spacing.get(sid)
            period_s = (ps[i].end - ps[i].start).total_seconds()
            c.expected = period_s / iv if iv else None
        return cells

    @staticmethod
    def _spread(
        cells: dict[_Key, _Cell],
        st: tuple[str, str],
        ps: list[Period],
        index: Callable[[datetime], int | None],
        seg_start: datetime,
        seg_end: datetime,
        value: float,
    ) -> None:
        """Add a held state value over [seg_start, seg_end) to the periods it covers."""
        if seg_end <= seg_start:
            return
        i = index(seg_start)
        while i is not None and i < len(ps) and ps[i].start < seg_end:
            a, b = max(seg_start, ps[i].start), min(seg_end, ps[i].end)
            secs = (b - a).total_seconds()
            c = cells.setdefault((*st, i), _Cell())
            c.known += secs
            c.weighted += secs * value
            i += 1

    def _interval(self, sid: str, s: Series | None) -> float | None:
        known = self.stations[sid].expected_interval_s
        if known:
            return float(known)
        if s is None or len(s.points) < 2:
            return None
        gaps = [
            (b.time - a.time).total_seconds() for a, b in zip(s.points, s.points[1:], strict=False)
        ]
        gaps = [g for g in gaps if g > 0]
        return statistics.median(gaps) if gaps else None

    def _spacings(
        self, q: str, start: datetime, end: datetime, sids: set[str]
    ) -> dict[str, float | None]:
        out: dict[str, float | None] = {
            sid: float(iv) for sid in sids if (iv := self.stations[sid].expected_interval_s)
        }
        if sids - out.keys():  # median spacing needs the raw timestamps
            for s in self.store.query(q, start=start, end=end, group_by=("dev_eui",)):
                sid = s.tags.get("dev_eui", "")
                if sid in sids and sid not in out:
                    out[sid] = self._interval(sid, s)
        return out

    # -- rows -----------------------------------------------------------------------
    def _to_rows(
        self,
        info: QuantityInfo,
        cells: dict[_Key, _Cell],
        ps: list[Period],
        interval: Interval,
        level: Level,
    ) -> list[Row]:
        out: list[Row] = []
        for (sid, sensor, i), c in cells.items():
            cov = None if not c.expected else round(min(1.0, c.count / c.expected), 3)
            stats: list[tuple[str, float | None]]
            if info.kind == "measurement":
                if not c.count:
                    continue
                stats = [("mean", c.total / c.count), ("min", c.lo), ("max", c.hi)]
            elif info.kind == "interval_count":
                stats = [("sum", c.total)]
            elif info.kind == "cumulative_count":
                stats = [("increase", c.total)] if c.count else []
            else:
                if not c.known:
                    continue
                name = "time_share" if info.max == 1 and info.min == 0 else "time_weighted_mean"
                stats = [(name, c.weighted / c.known)]
            for stat, value in stats:
                row = Row(
                    station_id=sid,
                    level=level,
                    quantity=info.name.value,
                    sensor=sensor,
                    unit=info.unit,
                    statistic=stat,
                    interval=interval,
                    period=ps[i],
                    value=None if value is None else round(value, 4),
                    count=c.count,
                    coverage=cov,
                )
                out.append(self._suppress(info, row))
        return out

    def _suppress(self, info: QuantityInfo, row: Row) -> Row:
        if info.name in PEOPLE and row.value is not None and 0 < row.value < self.min_people_count:
            return replace(row, value=None, flag="suppressed")
        return row
