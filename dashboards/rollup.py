"""Hourly rollup of ``lorawan_uplink`` per device, for the frame-loss panels (#15).

Frame loss is computed from each device's stored frame counters in time order
(:func:`dashboards.influxql.fcnt_steps`): ``non_negative_difference("f_cnt")`` gives each
uplink's step from the device's previous uplink, ``sum(step) - count(step)`` the missed
frames. Over 30 days × 500 devices that reads 2 million points per panel. The rollup
stores, per device and hour (timestamp = start of the hour, measurement
:data:`ROLLUP`), the same sums, so the panels read 720 points per device instead:

- ``uplinks``: uplinks received in the hour (``count("f_cnt")``);
- ``steps`` / ``stepped``: sum and count of the non-negative frame-counter steps of the
  hour's uplinks, each from the device's previous stored uplink, **including the step
  from the last uplink of an earlier hour** (a silence of up to 30 days, as long as that
  hour is in the rollup);
- ``f_cnt_first`` / ``f_cnt_last``: the hour's first and last frame counter.

Summed over whole hours this is exactly what the raw computation gives over the same hours
(tested against it on a real influxd: counter reset, late delivery, the stream split between
two pipelines). The only difference is at the start of a range: the raw query does not see
the uplink before the range, so it has no step for the first uplink; the rollup has it.

Why not an InfluxDB continuous query: a CQ (or ``SELECT … INTO``) applies its time window
to the subquery too, so the oldest hour of every run loses the step from the hour before —
each hour's last computation would miss its crossing step. Here the steps within a chunk
come from InfluxDB (one query per chunk), the crossing step into a device's first hour of
the chunk from the rollup's (or the raw data's) last frame counter before it.

``lorawan-monitor dashboards rollup --since 30d`` fills existing data (backfill);
``--every 5m`` keeps it up to date (recomputing ``--since`` each time, so late uplinks and
refills within that window are counted). Idempotent: a point per device and hour, rewritten.
Uses ``/query`` and ``/write`` of the v1 API only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from dashboards.influxql import UPLINK

#: the hourly rollup measurement (tags: see :data:`TAGS`)
ROLLUP = "lorawan_uplink_1h"
#: tags of the rollup points: the variables' tags, the table's and the installer link's
TAGS = ("application", "category", "dev_eui", "device", "model", "name", "site")
HOUR = 3600
#: how far back the raw data is searched for a device's uplink before the first chunk
#: when the rollup has no earlier hour for it
RAW_LOOKBACK_S = 86400
#: how far back the rollup is searched for a device's last hour (the longest dashboard range)
ROLLUP_LOOKBACK_S = 30 * 86400


class Influx(Protocol):
    """What the rollup needs of InfluxDB (``dashboards.retag.InfluxV1`` offers it)."""

    def query(self, q: str, *, post: bool = False) -> list[dict[str, Any]]: ...

    def write(self, lines: list[str]) -> None: ...


@dataclass
class Hour:
    uplinks: float = 0.0
    steps: float = 0.0
    stepped: float = 0.0
    first: float | None = None
    last: float | None = None


@dataclass
class RollupSummary:
    hours: int = 0
    devices: set[str] = field(default_factory=set)
    points: int = 0


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _window(start_s: int, end_s: int) -> str:
    return f"time >= {start_s}s AND time < {end_s}s"


def _rows(series: list[dict[str, Any]]) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    for s in series:
        tags = dict(s.get("tags", {}))
        for row in s["values"]:
            yield tags, dict(zip(s["columns"], row, strict=True))


def _previous_last(db: Influx, start_s: int) -> dict[str, float]:
    """Each device's last frame counter before ``start_s``: from the rollup, else raw."""
    out: dict[str, float] = {}
    q = (
        f'SELECT last("f_cnt_last") FROM "{ROLLUP}" WHERE '
        f'{_window(start_s - ROLLUP_LOOKBACK_S, start_s)} GROUP BY "device"'
    )
    for tags, row in _rows(db.query(q)):
        out[tags["device"]] = float(row["last"])
    q = (
        f'SELECT last("f_cnt") FROM "{UPLINK}" WHERE '
        f'{_window(start_s - RAW_LOOKBACK_S, start_s)} GROUP BY "device"'
    )
    for tags, row in _rows(db.query(q)):
        out.setdefault(tags["device"], float(row["last"]))
    return out


def _chunk(
    db: Influx, start_s: int, end_s: int
) -> tuple[dict[str, dict[int, Hour]], dict[str, dict[str, str]]]:
    w = _window(start_s, end_s)
    hours: dict[str, dict[int, Hour]] = {}
    counts = (
        'SELECT first("f_cnt") AS "first", last("f_cnt") AS "last", count("f_cnt") AS "n" '
        f'FROM "{UPLINK}" WHERE {w} GROUP BY time(1h), "device" fill(none)'
    )
    for tags, row in _rows(db.query(counts)):
        h = hours.setdefault(tags["device"], {}).setdefault(int(row["time"]) // 10**9, Hour())
        h.first, h.last, h.uplinks = float(row["first"]), float(row["last"]), float(row["n"])
    steps = (
        'SELECT sum("step") AS "steps", count("step") AS "stepped" FROM ('
        f'SELECT non_negative_difference("f_cnt") AS "step" FROM "{UPLINK}" WHERE {w} '
        f'GROUP BY "device") WHERE {w} GROUP BY time(1h), "device" fill(none)'
    )
    for tags, row in _rows(db.query(steps)):
        h = hours.setdefault(tags["device"], {}).setdefault(int(row["time"]) // 10**9, Hour())
        h.steps, h.stepped = float(row["steps"] or 0), float(row["stepped"] or 0)
    # the device's tags as written last in the chunk (name and site follow the registry)
    tag_q = f'SELECT last("f_cnt") FROM "{UPLINK}" WHERE {w} GROUP BY ' + ", ".join(
        f'"{t}"' for t in TAGS
    )
    latest: dict[str, tuple[int, dict[str, str]]] = {}
    for tags, row in _rows(db.query(tag_q)):
        t = int(row["time"])
        if tags["device"] not in latest or t >= latest[tags["device"]][0]:
            latest[tags["device"]] = (t, tags)
    return hours, {d: tags for d, (_, tags) in latest.items()}


def rollup(
    db: Influx, since_s: int, *, until_s: int | None = None, chunk_s: int = 86400
) -> RollupSummary:
    """Recompute the rollup for every hour from the one holding ``since_s`` to the current
    one (or the one holding ``until_s``), chunk by chunk in time order."""
    start = since_s // HOUR * HOUR
    end = ((until_s if until_s is not None else int(time.time())) // HOUR + 1) * HOUR
    summary = RollupSummary()
    prev = _previous_last(db, start)
    for a in range(start, end, chunk_s):
        b = min(a + chunk_s, end)
        hours, tags = _chunk(db, a, b)
        lines: list[str] = []
        for device, by_hour in hours.items():
            head = ",".join(
                [ROLLUP] + [f"{k}={_esc(v)}" for k, v in sorted(tags.get(device, {}).items()) if v]
            )
            for i, ts in enumerate(sorted(by_hour)):
                h = by_hour[ts]
                if h.first is None or h.last is None:
                    continue  # steps without uplinks cannot happen; be safe
                if i == 0 and device in prev and h.first >= prev[device]:
                    # the step into the chunk's first uplink, which the chunk's query lacks
                    h.steps += h.first - prev[device]
                    h.stepped += 1
                lines.append(
                    f"{head} f_cnt_first={h.first!r},f_cnt_last={h.last!r},"
                    f"steps={h.steps!r},stepped={h.stepped!r},uplinks={h.uplinks!r} {ts * 10**9}"
                )
                prev[device] = h.last
            summary.devices.add(device)
        if lines:
            db.write(lines)
        summary.points += len(lines)
        summary.hours += (b - a) // HOUR
    return summary
