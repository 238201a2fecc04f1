"""Gap refill from The Things Stack's Storage Integration — against a stand-in (issue #6).

No TTS runs here, so its Storage Integration HTTP API is replaced at the HTTP boundary
(tests/integration/tts_storage_standin.py, built from the TTS docs). Everything else is
real: mosquitto, influxd, the ingest service and its buffer/watermark files.

The Things Stack publishes on MQTT with QoS 0 only: what it publishes while we are
down or disconnected is gone from MQTT, but its Storage Integration keeps it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from ingest.refill import TtsStorageClient
from ingest.service import IngestService
from lorawan_monitor.errors import SinkAuthError
from lorawan_monitor.settings import Settings, TtsSettings
from simulator.fleet import SimMessage, default_fleet, generate
from simulator.publisher import Publisher
from storage.influx import InfluxStore
from tests.integration.helpers import count_points, diff, expected_points, influx_points
from tests.integration.helpers import settings_for as _settings_for
from tests.integration.tts_storage_standin import TtsStorageStandin, _received_at
from tests.servers import Influxd, Mosquitto, running_mosquitto

pytestmark = pytest.mark.integration
APP = "municipal-sensors"


@pytest.fixture
def standin() -> Iterator[TtsStorageStandin]:
    s = TtsStorageStandin()
    s.start()
    yield s
    s.stop()


def _tts_stream(count: int, seed: int) -> list[SimMessage]:
    """A TTS fleet's uplinks of the last few hours (refill reaches back max_age_hours), in
    the order The Things Stack publishes them: by receive time."""
    start = (datetime.now(UTC) - timedelta(hours=5)).replace(microsecond=0)
    fleet = default_fleet(8, networks=("tts",))
    messages = list(generate(fleet, start=start, count=count, seed=seed))
    return sorted(messages, key=lambda msg: msg.expected[0].time_ns)


def _settings(
    mqtt_port: int,
    influxd: Influxd,
    db: str,
    data_dir: Path,
    standin: TtsStorageStandin | None,
    **tts: Any,
) -> Settings:
    tts_cfg = (
        {"api_url": standin.url, "api_key": standin.api_key, "page_size": 25, **tts}
        if standin
        else {}
    )
    # The Things Stack: MQTT 3.1.1, QoS 0
    return _settings_for(
        mqtt_port,
        influxd.url,
        db,
        data_dir,
        mqtt={"envelope": "tts", "qos": 0, "reconnect_min_delay": 1, "reconnect_max_delay": 1},
        tts=tts_cfg,
    )


def _refilled_metric() -> float:
    return REGISTRY.get_sample_value("lorawan_refilled_uplinks_total") or 0.0


def _wait(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def _publish(port: int, messages: Sequence[SimMessage], standin: TtsStorageStandin) -> None:
    """TTS publishes on MQTT and stores the same uplinks in its Storage Integration."""
    pub = Publisher("127.0.0.1", port, client_id="tts-" + uuid.uuid4().hex[:8])
    pub.publish(messages)
    pub.close()
    for msg in messages:
        standin.store(msg.payload)


def _wait_refill(service: IngestService, n_threads: int, timeout: float = 30) -> None:
    assert _wait(lambda: len(service._refill_threads) >= n_threads, timeout)
    service._refill_threads[n_threads - 1].join(timeout)
    assert not service._refill_threads[n_threads - 1].is_alive()


def _assert_all_stored(influxd: Influxd, db: str, messages: Sequence[SimMessage]) -> None:
    expected = expected_points(messages)
    got = influx_points(influxd, db, {k[0] for k in expected})
    d = diff(expected, got)
    assert d["missing"] == 0 and d["extra"] == 0 and d["n_wrong"] == 0, repr(d)
    assert count_points(influxd, db, "lorawan_uplink", "f_cnt") == len(messages)


def test_refill_after_restart_fetches_what_was_missed_standin(
    mosquitto: Mosquitto,
    influxd: Influxd,
    influx_db: str,
    tmp_path: Path,
    standin: TtsStorageStandin,
) -> None:
    messages = _tts_stream(160, seed=21)
    live, missed = messages[:60], messages[60:]

    # 1. the service receives part of the stream over MQTT, then is stopped
    service = IngestService(
        _settings(mosquitto.port, influxd, influx_db, tmp_path, None),
        store=InfluxStore(_settings(mosquitto.port, influxd, influx_db, tmp_path, None).influx),
    )
    service.start()
    assert service.transport is not None
    assert service.transport.wait_subscribed(10)  # type: ignore[attr-defined]
    _publish(mosquitto.port, live, standin)
    assert _wait(lambda: service.received >= len(live), 20)
    assert service.wait_idle(20)
    watermark = service.watermarks.get()[APP]
    service.stop()
    assert count_points(influxd, influx_db, "lorawan_uplink", "f_cnt") == len(live)

    # 2. while it is down, TTS gets more uplinks: they exist only in its storage
    for msg in missed:
        standin.store(msg.payload)

    # 3. restart with the Storage Integration configured: refill from the watermark
    settings = _settings(mosquitto.port, influxd, influx_db, tmp_path, standin)
    refilled_before = _refilled_metric()
    service = IngestService(settings, store=InfluxStore(settings.influx))
    service.start()
    try:
        _wait_refill(service, 1)
        assert service.wait_idle(30), service.buffer.stats()
        first = standin.requests[0]
        assert first.status == 200
        assert first.path == f"/api/v3/as/applications/{APP}/packages/storage/uplink_message"
        assert first.headers["accept"] == "text/event-stream"
        assert first.params["order"] == "received_at"
        assert datetime.fromisoformat(first.params["after"].replace("Z", "+00:00")) == watermark
        # what TTS stored after the watermark (page size 25: several pages were read)
        newer = [up for up in standin.stored[APP] if _received_at(up) > watermark]
        assert len(newer) >= len(missed)
        assert service.refilled == len(newer)
        assert _refilled_metric() - refilled_before == len(newer)
        assert len(standin.requests) >= len(newer) // 25
        _assert_all_stored(influxd, influx_db, messages)
    finally:
        service.stop()

    # 4. a refill of everything (no watermark: a fresh data dir) changes nothing
    other = tmp_path / "fresh"
    settings = _settings(mosquitto.port, influxd, influx_db, other, standin, applications=[APP])
    service = IngestService(settings, store=InfluxStore(settings.influx))
    service.start(mqtt=False)
    try:
        _wait_refill(service, 1)
        assert service.wait_idle(30)
        assert service.refilled == len(messages)
        _assert_all_stored(influxd, influx_db, messages)
    finally:
        service.stop()


def test_refill_runs_after_an_mqtt_reconnect_standin(
    influxd: Influxd, influx_db: str, tmp_path: Path, standin: TtsStorageStandin
) -> None:
    messages = _tts_stream(120, seed=22)
    before, during, after = messages[:40], messages[40:80], messages[80:]
    with running_mosquitto() as broker:
        settings = _settings(broker.port, influxd, influx_db, tmp_path, standin)
        service = IngestService(settings, store=InfluxStore(settings.influx))
        service.start()
        try:
            assert service.transport is not None
            assert service.transport.wait_subscribed(10)  # type: ignore[attr-defined]
            _wait_refill(service, 1)  # at start: nothing known yet
            _publish(broker.port, before, standin)
            assert _wait(lambda: service.received >= len(before), 20)
            assert service.wait_idle(20)

            broker.stop()  # QoS 0: what TTS publishes now never reaches us over MQTT
            assert _wait(lambda: not service.state.mqtt_connected, 10)
            for msg in during:
                standin.store(msg.payload)
            broker.start()
            _wait_refill(service, 2)  # triggered by the reconnect
            assert service.transport.wait_subscribed(10)  # type: ignore[attr-defined]
            _publish(broker.port, after, standin)
            assert _wait(lambda: service.received >= len(messages), 20)
            assert service.wait_idle(30)
            assert service.refilled >= len(during)
            _assert_all_stored(influxd, influx_db, messages)
        finally:
            service.stop()


def test_wrong_api_key_is_refused_standin(standin: TtsStorageStandin) -> None:
    standin.store(_tts_stream(1, seed=23)[0].payload)
    tts = TtsSettings(api_url=standin.url, api_key=SecretStr("NNSXS.WRONG"))
    client = TtsStorageClient(tts)
    try:
        with pytest.raises(SinkAuthError, match="401"):
            list(client.uplinks(APP, datetime.now(UTC) - timedelta(days=1)))
    finally:
        client.close()
    assert [r.status for r in standin.requests] == [401]
    good = TtsStorageClient(TtsSettings(api_url=standin.url, api_key=SecretStr(standin.api_key)))
    try:
        assert len(list(good.uplinks(APP, datetime.now(UTC) - timedelta(days=1)))) == 1
    finally:
        good.close()
