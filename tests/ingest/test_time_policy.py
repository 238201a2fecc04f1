"""Timestamp policy at parse time (#11 points 3 and 5, and the pre-1970 shift of point 9).

Before: one uplink from a gateway with a broken clock (2262, 9999) moved ``last_seen``
and the TTS refill watermark into the future for good; times of 1677, 2262-04-12, 9999
or year 1 were counted ``stored`` while InfluxDB refused them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from ingest.models import RawMessage
from ingest.pipeline import Pipeline
from ingest.refill import refill
from ingest.service import IngestService
from ingest.timepolicy import TimePolicy
from lorawan_monitor.settings import load_settings
from simulator.envelopes import chirpstack_uplink, chirpstack_v3_uplink, tts_uplink
from storage.base import to_ns
from storage.lineprotocol import parse_line
from storage.registry import SqlRegistry
from storage.sqlite import SqliteStore

LHT65 = bytes.fromhex("CBF60B0D0376010ADD7FFF")
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
BAD_TIMES = [
    "9999-12-31T23:59:59Z",
    "2262-04-12T00:00:00Z",
    "2262-04-11T23:47:17Z",
    "1677-09-21T00:12:43Z",
    "0001-01-01T00:00:00+01:00",
    "1970-01-01T00:00:00Z",
    "2014-12-31T23:59:59Z",
    (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
]


def _tts(when: datetime, dev: str = "lht-1", f_cnt: int = 1) -> tuple[str, dict]:  # type: ignore[type-arg]
    topic, payload = tts_uplink(
        application="stadt-app",
        device_id=dev,
        dev_eui="A84041000181C061",
        f_port=2,
        f_cnt=f_cnt,
        payload=LHT65,
        received_at=when,
        model_id="dragino/lht65",
    )
    return topic, orjson.loads(payload)


def _raw(topic: str, msg: dict) -> RawMessage:  # type: ignore[type-arg]
    return RawMessage(topic=topic, payload=orjson.dumps(msg), received=time.time())


@pytest.mark.parametrize("bad", BAD_TIMES)
def test_implausible_time_without_fallback_is_rejected(bad: str) -> None:
    topic, msg = _tts(NOW)
    msg["uplink_message"]["received_at"] = bad
    del msg["received_at"]
    r = Pipeline().process(_raw(topic, msg))
    assert (r.outcome, r.reason) == ("rejected", "implausible_time")
    assert r.record is None and r.points == []
    assert "outside the plausible range" in (r.message or "")


@pytest.mark.parametrize("bad", BAD_TIMES)
def test_tts_falls_back_to_the_application_server_time(bad: str) -> None:
    topic, msg = _tts(NOW)
    msg["uplink_message"]["received_at"] = bad
    r = Pipeline().process(_raw(topic, msg))
    assert r.outcome == "stored" and r.record is not None
    t_as = datetime.fromisoformat(msg["received_at"])
    assert r.record.received_at == t_as
    assert any("used the network server time" in w for w in r.record.warnings)
    assert {parse_line(p).time_ns for p in r.points} == {to_ns(t_as)}


def test_chirpstack_v4_falls_back_to_ns_time_and_v3_to_published_at() -> None:
    topic, payload = chirpstack_uplink(
        application_id="5d1e0a3c-6f8b-4c1e-9a3d-2b7c9e1f0a11",
        application_name="app",
        dev_eui="a84041000181c061",
        device_name="lht",
        f_port=2,
        f_cnt=1,
        payload=LHT65,
        time=NOW,
        device_profile_name="dragino/lht65",
    )
    msg = orjson.loads(payload)
    msg["time"] = "9999-01-01T00:00:00Z"
    r = Pipeline().process(_raw(topic, msg))
    assert r.record is not None
    assert r.record.received_at == datetime.fromisoformat(msg["rxInfo"][0]["nsTime"])
    topic, payload = chirpstack_v3_uplink(
        application_id=3,
        application_name="app",
        dev_eui="a84041000181c061",
        device_name="lht",
        f_port=2,
        f_cnt=1,
        payload=LHT65,
        time=datetime(1980, 1, 6, tzinfo=UTC),  # GPS epoch: a gateway without GPS fix
        marshaler="json",
        published_at=NOW,
        device_profile_name="dragino/lht65",
    )
    r = Pipeline().process(RawMessage(topic=topic, payload=payload, received=time.time()))
    assert r.record is not None and r.record.received_at == NOW


def test_policy_bounds_follow_the_settings() -> None:
    now = time.time_ns()
    p = TimePolicy(max_future_s=60, earliest=datetime(2020, 1, 1, tzinfo=UTC))
    assert p.plausible(datetime(2020, 1, 1, tzinfo=UTC), now)
    assert not p.plausible(datetime(2019, 12, 31, 23, 59, tzinfo=UTC), now)
    assert p.plausible_ns(now + 59 * 10**9, now)
    assert not p.plausible_ns(now + 61 * 10**9, now)
    # earlier than InfluxDB can store is never plausible, whatever is configured
    assert not TimePolicy(earliest=datetime(1, 1, 2, tzinfo=UTC)).plausible(
        datetime(1677, 1, 1, tzinfo=UTC), now
    )


def test_pre_1970_fractional_times_do_not_shift() -> None:
    t = datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)
    assert to_ns(t) == -500_000_000
    p = Pipeline(time_policy=TimePolicy(earliest=datetime(1900, 1, 1, tzinfo=UTC)))
    topic, msg = _tts(NOW)
    msg["uplink_message"]["received_at"] = "1969-12-31T23:59:59.5Z"
    r = p.process(_raw(topic, msg))
    assert {parse_line(x).time_ns for x in r.points} == {-500_000_000}


def test_a_future_uplink_moves_neither_last_seen_nor_the_watermark(tmp_path: Path) -> None:
    settings = load_settings(storage={"data_dir": str(tmp_path)}, influx={"flush_interval": 0.05})
    registry = SqlRegistry(settings.storage.registry_dsn())
    store = SqliteStore(tmp_path / "ts.db")
    svc = IngestService(settings, store=store, registry=registry)
    svc.start(mqtt=False)
    try:
        topic, good = _tts(NOW, f_cnt=1)
        svc.feed(_raw(topic, good))
        _, bad = _tts(NOW + timedelta(seconds=30), f_cnt=2)
        bad["uplink_message"]["received_at"] = "9999-12-31T23:59:59Z"
        del bad["received_at"]
        svc.feed(_raw(topic, bad))
        topic, later = _tts(NOW + timedelta(minutes=1), f_cnt=3)
        svc.feed(_raw(topic, later))
        assert svc.wait_idle(15)
        dev = registry.get_device("A84041000181C061")
        assert dev is not None and dev.last_seen == NOW + timedelta(minutes=1)
        assert svc.watermarks.get() == {"stadt-app": NOW + timedelta(minutes=1)}
        assert svc.outcomes[("rejected", "implausible_time")] == 1
        [dl] = svc.buffer.dead_letters()
        assert dl.reason == "implausible_time"
        assert store.count("lorawan_uplink") == 2
    finally:
        svc.stop()
        store.close()
        registry.close()


def test_refill_ignores_a_watermark_in_the_future() -> None:
    """State from before the fix: a watermark of 9999 no longer turns refill off."""
    asked: list[datetime] = []

    class _Client:
        def uplinks(self, app: str, after: datetime) -> list[dict]:  # type: ignore[type-arg]
            asked.append(after)
            return []

    now = datetime(2026, 6, 1, tzinfo=UTC)
    refill(
        _Client(),  # type: ignore[arg-type]
        lambda _raw: None,
        applications={"a": datetime(9999, 12, 31, tzinfo=UTC)},
        tenant="ttn",
        now=now,
        max_age=timedelta(hours=24),
    )
    assert asked == [now - timedelta(hours=24)]


def test_a_readings_own_time_may_be_old_but_not_future_or_unstorable() -> None:
    now = time.time_ns()
    p = TimePolicy()
    assert p.plausible_reading(datetime(2011, 10, 31, tzinfo=UTC), now)  # logged history
    assert not p.plausible_reading(datetime(9999, 1, 1, tzinfo=UTC), now)
    assert not p.plausible_reading(datetime(1600, 1, 1, tzinfo=UTC), now)
    assert not p.plausible_reading(datetime.now(UTC) + timedelta(hours=1), now)
