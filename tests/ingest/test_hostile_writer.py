"""A poison line never stops the writer (#11 points 1 and 2).

Before: one ChirpStack uplink with ``applicationName = 'Stadtwerke 5" Nord'`` made its
buffered line unreadable for the embedded store, and the writer retried it every 0.5 s
for good while ``/health/ready`` said ready. A trailing backslash got every point of the
device refused by InfluxDB, with no dead letter. Now every string is written by one
rule, and whatever the store still refuses is isolated, dead-lettered and counted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.models import RawMessage
from ingest.service import WRITER_TOPIC, IngestService
from lorawan_monitor.settings import load_settings
from simulator.envelopes import chirpstack_uplink
from storage.base import Point
from storage.influx import InfluxStore
from storage.sqlite import SqliteStore
from tests.servers import Influxd

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
APP = "5d1e0a3c-6f8b-4c1e-9a3d-2b7c9e1f0a11"
LHT65 = bytes.fromhex("CBF60B0D0376010ADD7FFF")  # Dragino LHT65 vector (TTN repo)


def _uplink(i: int, app_name: str, dev: str = "a84041000181c061") -> RawMessage:
    topic, payload = chirpstack_uplink(
        application_id=APP,
        application_name=app_name,
        dev_eui=dev,
        device_name=f"lht-{dev[-4:]}",
        f_port=2,
        f_cnt=i,
        payload=LHT65,
        time=T0 + timedelta(minutes=i),
        device_profile_name="dragino/lht65",
    )
    return RawMessage(topic=topic, payload=payload)


def _service(tmp_path: Path, store: object) -> IngestService:
    settings = load_settings(
        storage={"data_dir": str(tmp_path)}, influx={"flush_interval": 0.05, "batch_size": 500}
    )
    return IngestService(settings, store=store)  # type: ignore[arg-type]


def _uplink_points(store: SqliteStore) -> int:
    return store.count("lorawan_uplink")


@pytest.mark.parametrize("name", ['Stadtwerke 5" Nord', "trail\\", "zeile\nzwei", "a=b, c\\"])
def test_hostile_application_names_are_stored_in_the_embedded_store(
    tmp_path: Path, name: str
) -> None:
    store = SqliteStore(tmp_path / "ts.db")
    svc = _service(tmp_path, store)
    svc.start(mqtt=False)
    try:
        for i in range(1, 4):
            svc.feed(_uplink(i, name))
            svc.feed(_uplink(i, "Gut", dev="a84041000181c062"))
        assert svc.wait_idle(15)
        assert _uplink_points(store) == 6
        assert svc.points_rejected == 0
    finally:
        svc.stop()
        store.close()


def test_an_unparseable_buffered_line_is_dead_lettered_and_the_rest_written(
    tmp_path: Path,
) -> None:
    """A line from an older version (or a damaged buffer) cannot stop the writer."""
    store = SqliteStore(tmp_path / "ts.db")
    svc = _service(tmp_path, store)
    good = Point(measurement="temperature", tags={"device": "d"}, fields={"value": 1.0}, time_ns=1)
    svc.buffer.append(['temperature,application=5" x value=1.0 2 broken', good])
    svc.start(mqtt=False)
    try:
        assert svc.wait_idle(10)
        assert store.count("temperature") == 1
        [dl] = svc.buffer.dead_letters()
        assert (dl.topic, dl.reason) == (WRITER_TOPIC, "unparseable_line")
        assert b"broken" in dl.payload
        assert svc.points_rejected == 1
        assert svc.state.ready()[0] or "writer" not in " ".join(svc.state.ready()[1])
    finally:
        svc.stop()
        store.close()


class _BrokenStore(SqliteStore):
    """A store whose write always raises an unexpected error (a bug, not a refusal)."""

    def write(self, points: object) -> None:  # type: ignore[override]
        raise RuntimeError("boom")


def test_a_failing_writer_is_not_ready_and_sets_the_chunk_aside(tmp_path: Path) -> None:
    store = _BrokenStore(tmp_path / "ts.db")
    svc = _service(tmp_path, store)
    svc.buffer.append(["temperature,device=d value=1.0 1"])
    svc.start(mqtt=False)
    try:
        seen_unready = False
        for _ in range(200):
            ok, problems = svc.state.ready()
            if not ok and any("writer" in p for p in problems):
                seen_unready = True
                break
            import time

            time.sleep(0.02)
        assert seen_unready
        assert svc.wait_idle(10)  # after MAX_WRITE_ATTEMPTS the chunk is dead-lettered
        [dl] = svc.buffer.dead_letters()
        assert dl.reason == "write_failed"
    finally:
        svc.stop()
        store.close()


def test_influx_refusals_are_isolated_per_line_and_dead_lettered(
    influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    """A type conflict (a string where a float field exists) is refused by influxd: that one
    line becomes a dead letter with influxd's reason, its neighbours are written."""
    store = InfluxStore(load_settings(influx={"url": influxd.url, "database": influx_db}).influx)
    svc = _service(tmp_path, store)
    svc.buffer.append(["temperature,device=d value=1.0 1"])
    svc.buffer.append(
        [
            "temperature,device=d value=2.0 2",
            'temperature,device=d value="x" 3',
            "temperature,device=d value=4.0 4",
        ]
    )
    svc.start(mqtt=False)
    try:
        assert svc.wait_idle(15)
        assert store.count("temperature") == 3
        [dl] = svc.buffer.dead_letters()
        assert dl.reason == "sink_rejected" and b'value="x"' in dl.payload
        assert "conflict" in dl.message
    finally:
        svc.stop()
        store.close()
