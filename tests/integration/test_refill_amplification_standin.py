"""Refill amplification (#11 point 7), against the TTS Storage Integration stand-in
(tests/integration/tts_storage_standin.py; no TTS runs here).

Before: in ``auto`` mode every ``v3/...`` topic seen once became a TTS application, and
2,500 random application ids caused 2,503 Storage Integration requests on every start
and reconnect. Now refill asks for configured applications, or for those with stored
uplinks (confirmed traffic), capped in number; one TTS does not know is forgotten.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.models import RawMessage
from ingest.service import IngestService
from lorawan_monitor.settings import load_settings
from simulator.envelopes import tts_uplink
from storage.sqlite import SqliteStore
from tests.integration.test_refill_standin import standin  # noqa: F401 (fixture)
from tests.integration.tts_storage_standin import TtsStorageStandin

pytestmark = pytest.mark.integration
APP = "municipal-sensors"
LHT65 = bytes.fromhex("CBF60B0D0376010ADD7FFF")
T0 = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)


def _up(app: str, i: int, model: str | None = "dragino/lht65") -> RawMessage:
    topic, payload = tts_uplink(
        application=app,
        device_id=f"dev-{i}",
        dev_eui=None,
        f_port=2,
        f_cnt=i,
        payload=LHT65,
        received_at=T0 + timedelta(seconds=i),
        model_id=model,
    )
    return RawMessage(topic=topic, payload=payload, received=time.time())


def _run(tmp_path: Path, tts_api: TtsStorageStandin | None, msgs: list[RawMessage]) -> None:
    tts = {"api_url": tts_api.url, "api_key": tts_api.api_key} if tts_api else {}
    settings = load_settings(
        storage={"data_dir": str(tmp_path)},
        influx={"flush_interval": 0.05},
        ingest={"max_refill_applications": 10},
        tts=tts,
    )
    store = SqliteStore(tmp_path / "ts.db")
    svc = IngestService(settings, store=store)
    svc.start(mqtt=False)
    try:
        for raw in msgs:
            svc.feed(raw)
        for t in list(svc._refill_threads):
            t.join(20)
        assert svc.wait_idle(20)
    finally:
        svc.stop()
        store.close()


def test_random_v3_topics_do_not_create_refill_requests_standin(
    tmp_path: Path,
    standin: TtsStorageStandin,  # noqa: F811
) -> None:
    standin.store(_up(APP, 0).payload)
    msgs = [_up(f"rand-{i}", i, model=None) for i in range(300)]  # seen once, not stored
    msgs += [_up(f"stored-{i}", 400 + i) for i in range(30)]  # stored once each
    msgs += [_up(APP, 1000 + i) for i in range(5)]  # the real application, newest
    _run(tmp_path, None, msgs)

    _run(tmp_path, standin, [])  # start with refill on
    asked = {r.path.split("/")[5] for r in standin.requests}
    assert len(asked) <= 10, asked  # capped; never the 300 unconfirmed ones
    assert APP in asked and not any(a.startswith("rand-") for a in asked)

    standin.requests.clear()
    _run(tmp_path, standin, [])  # the ones TTS does not know (404) were forgotten
    assert {r.path.split("/")[5] for r in standin.requests} == {APP}


def test_configured_applications_are_the_only_ones_asked_standin(
    tmp_path: Path,
    standin: TtsStorageStandin,  # noqa: F811
) -> None:
    standin.store(_up(APP, 0).payload)
    _run(tmp_path, None, [_up(f"stored-{i}", i) for i in range(5)])
    settings_dir = tmp_path
    tts = {"api_url": standin.url, "api_key": standin.api_key, "applications": [APP]}
    settings = load_settings(storage={"data_dir": str(settings_dir)}, tts=tts)
    store = SqliteStore(tmp_path / "ts.db")
    svc = IngestService(settings, store=store)
    svc.start(mqtt=False)
    try:
        for t in list(svc._refill_threads):
            t.join(20)
    finally:
        svc.stop()
        store.close()
    assert {r.path.split("/")[5] for r in standin.requests} == {APP}
