"""Frame loss on the dashboards is exact however the uplinks were split between ingest
workers (#2, #5): the frame-counter gaps are computed in InfluxDB from every stored
``f_cnt`` of a device, so two workers on a shared subscription — each seeing every other
uplink — give the same figures as one. The panels read the hourly rollup
(``dashboards/rollup.py``, #15), which must give what the raw computation gives, however
it was computed (in one chunk, hour by hour, or in several runs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dashboards import influxql
from dashboards.generate import load_committed
from dashboards.retag import InfluxV1
from dashboards.rollup import ROLLUP, rollup
from ingest.models import RawMessage
from ingest.pipeline import Pipeline
from simulator import encoders, envelopes
from tests.dashboards.test_queries_influx import interpolate
from tests.servers import Influxd

pytestmark = pytest.mark.integration

#: frame counters as received: 5, 11, 12 and 30 lost, then a counter reset (rejoin)
F_CNTS = [f for f in range(1, 41) if f not in (5, 11, 12, 30)] + [1, 2, 3, 4, 5]
MISSED = 4
#: steps counted: 39 over the first session, 4 after the reset (the reset itself is none)
EXPECTED_FRAMES = 39 + 4


def _uplink(device: str, f_cnt: int, at: datetime) -> RawMessage:
    topic, body = envelopes.tts_uplink(
        application="city",
        device_id=device,
        dev_eui=("A84041000181" + device[-4:]).upper(),
        f_port=2,
        f_cnt=f_cnt,
        payload=encoders.lht65(temperature=20.0, humidity=50.0, battery_v=3.0),
        received_at=at,
        model_id="dragino/lht65",
    )
    return RawMessage(topic=topic, payload=body)


def _panel_queries(title: str) -> list[str]:
    for board in load_committed().values():
        for panel in board["panels"]:
            if panel.get("title") == title:
                return [t["query"] for t in panel["targets"]]
    raise AssertionError(f"no panel {title!r}")


def _fill(influxd: Influxd, db: str, workers: int, now: datetime) -> datetime:
    """Two devices' uplinks through ``workers`` pipelines, dealt out round-robin as a
    shared subscription does, one uplink delivered late (after its successor).

    Every 400 s from one minute past a full hour: the gap 11-12 and the counter reset
    (40 -> 1) fall across hour boundaries, so the rollup's step between hours counts."""
    pipelines = [Pipeline() for _ in range(workers)]
    lines: list[str] = []
    start = now.replace(minute=0, second=0) - timedelta(hours=6)
    for device in ("lht-0001", "lht-0002"):
        stream = [(f, start + timedelta(seconds=60 + 400 * i)) for i, f in enumerate(F_CNTS)]
        stream[20], stream[21] = stream[21], stream[20]  # a late delivery
        for i, (f_cnt, at) in enumerate(stream):
            r = pipelines[i % workers].process(_uplink(device, f_cnt, at))
            assert r.outcome == "stored", r
            lines.extend(r.points)
    res = httpx.post(f"{influxd.url}/write", params={"db": db}, content="\n".join(lines))
    assert res.status_code == 204, res.text
    return start


def _rollup(influxd: Influxd, db: str, since: datetime, **kw: Any) -> None:
    with httpx.Client(base_url=influxd.url, timeout=30) as client:
        rollup(InfluxV1(client, db), int(since.timestamp()), **kw)


def _query(influxd: Influxd, db: str, q: str) -> list[dict[str, Any]]:
    res = influxd.query(q, db=db)["results"][0]
    assert "error" not in res, (res, q)
    return res.get("series", [])  # type: ignore[no-any-return]


@pytest.mark.parametrize("workers", [1, 2])
def test_frame_loss_panels_are_exact_whatever_the_worker_split(
    influxd: Influxd, influx_db: str, workers: int
) -> None:
    db = influx_db
    now = datetime.now(UTC).replace(microsecond=0)
    start = _fill(influxd, db, workers, now)
    _rollup(influxd, db, start)
    now_s = int(now.timestamp()) + 60

    received_q, loss_q = _panel_queries("Paketverlust je Gerät")
    received = {
        s["tags"]["device"]: s["values"][0][1]
        for s in _query(influxd, db, interpolate(received_q, now_s))
    }
    assert received == {"lht-0001": len(F_CNTS), "lht-0002": len(F_CNTS)}
    per_device = _query(influxd, db, interpolate(loss_q, now_s))
    assert {s["tags"]["device"] for s in per_device} == {"lht-0001", "lht-0002"}
    for s in per_device:
        row = dict(zip(s["columns"], s["values"][0], strict=True))
        assert row["missed"] == MISSED, (workers, row)
        assert row["loss"] == pytest.approx(MISSED / EXPECTED_FRAMES * 100)

    (stat_q,) = _panel_queries("Paketverlust")
    (total,) = _query(influxd, db, interpolate(stat_q, now_s))
    assert total["values"][0][1] == pytest.approx(MISSED / EXPECTED_FRAMES * 100)

    (hourly_q,) = _panel_queries("Fehlende Frames je Stunde")
    hourly = _query(influxd, db, interpolate(hourly_q, now_s))
    assert {s["tags"]["device"]: sum(v[1] for v in s["values"]) for s in hourly} == {
        "lht-0001": MISSED,
        "lht-0002": MISSED,
    }


def _drop_rollup(influxd: Influxd, db: str) -> None:
    q = f'DROP MEASUREMENT "{ROLLUP}"'
    assert httpx.post(f"{influxd.url}/query", params={"db": db, "q": q}).status_code == 200
    assert not _rollup_rows(influxd, db)


def _rollup_rows(influxd: Influxd, db: str) -> dict[tuple[str, int], tuple[Any, ...]]:
    q = f'SELECT "uplinks", "steps", "stepped", "f_cnt_first", "f_cnt_last" FROM "{ROLLUP}" GROUP BY "device"'
    return {
        (s["tags"]["device"], row[0]): tuple(row[1:])
        for s in _query(influxd, db, q)
        for row in s["values"]
    }


def _raw(influxd: Influxd, db: str, now_s: int) -> dict[str, tuple[float, float]]:
    """(missed, loss %) per device from the raw frame counters (the panels before #15)."""
    q = influxql.frame_loss(f'{influxql.MISSED} AS "missed", {influxql.LOSS} AS "loss"', "device")
    rows = _query(influxd, db, interpolate(q, now_s))
    return {s["tags"]["device"]: (s["values"][0][1], s["values"][0][2]) for s in rows}


@pytest.mark.parametrize("workers", [1, 2])
def test_rollup_equals_the_raw_computation_however_it_was_computed(
    influxd: Influxd, influx_db: str, workers: int
) -> None:
    db = influx_db
    now = datetime.now(UTC).replace(microsecond=0)
    start = _fill(influxd, db, workers, now)
    now_s = int(now.timestamp()) + 60
    raw = _raw(influxd, db, now_s)
    assert raw == {d: (MISSED, pytest.approx(MISSED / EXPECTED_FRAMES * 100)) for d in raw}
    assert set(raw) == {"lht-0001", "lht-0002"}

    _rollup(influxd, db, start)  # one chunk
    whole = _rollup_rows(influxd, db)
    assert len({h for _, h in whole}) == 5  # the stream spans five hours
    (_, loss_q) = _panel_queries("Paketverlust je Gerät")
    per_device = _query(influxd, db, interpolate(loss_q, now_s))
    assert {s["tags"]["device"]: tuple(s["values"][0][1:]) for s in per_device} == raw

    # hour by hour, and in two runs (a backfill, then the periodic run over the last hours):
    # each chunk's first step comes from the hour before it, so every hour is the same
    _drop_rollup(influxd, db)
    _rollup(influxd, db, start, chunk_s=3600)
    assert _rollup_rows(influxd, db) == whole
    _drop_rollup(influxd, db)
    _rollup(influxd, db, start, until_s=int((start + timedelta(hours=2)).timestamp()))
    _rollup(influxd, db, start + timedelta(hours=3))
    assert _rollup_rows(influxd, db) == whole
