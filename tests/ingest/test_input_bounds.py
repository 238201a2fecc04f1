"""Integer ranges per field, bounded decoded objects, a maximum message size (#11 points
4 and 6): each rejected with its own reason, never taking its chunk's neighbours along."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.models import RawMessage
from ingest.pipeline import Pipeline
from ingest.service import IngestService
from lorawan_monitor.settings import load_settings
from storage.registry import SqlRegistry
from storage.sqlite import SqliteStore
from tests.ingest.test_time_policy import NOW, _tts


def _msg(i: int = 0, **um: Any) -> RawMessage:
    topic, msg = _tts(NOW + timedelta(seconds=i), f_cnt=i + 1)
    msg["uplink_message"].update(um)
    payload = json.dumps(msg).encode()  # orjson writes only 254 levels
    return RawMessage(topic=topic, payload=payload, received=time.time())


def _deep(n: int) -> dict[str, Any]:
    d: dict[str, Any] = {"temperature": 21.5}
    for _ in range(n):
        d = {"x": d}
    return d


@pytest.mark.parametrize(
    ("um", "reason"),
    [
        ({"f_cnt": -1}, "out_of_range"),
        ({"f_cnt": "1" + "0" * 30}, "out_of_range"),
        ({"f_cnt": str(2**63)}, "out_of_range"),
        ({"f_cnt": 2**32}, "out_of_range"),
        ({"f_port": 256}, "out_of_range"),
        ({"decoded_payload": _deep(300)}, "too_large"),
        ({"decoded_payload": {"v": list(range(5000))}}, "too_large"),
        ({"frm_payload": "AA==" * 100_000}, "too_large"),
    ],
)
def test_out_of_bounds_fields_are_rejected_with_their_reason(
    um: dict[str, Any], reason: str
) -> None:
    r = Pipeline().process(_msg(**um))
    assert (r.outcome, r.reason) == ("rejected", reason), r.message
    assert r.record is None


def test_bounds_at_the_edge_are_accepted() -> None:
    r = Pipeline().process(_msg(f_cnt=2**32 - 1, f_port=255, decoded_payload=_deep(20)))
    assert r.outcome == "stored" and r.record is not None and r.record.f_cnt == 2**32 - 1


def test_a_poison_uplink_does_not_take_its_chunk_out_of_the_registry(tmp_path: Path) -> None:
    settings = load_settings(storage={"data_dir": str(tmp_path)}, influx={"flush_interval": 0.05})
    registry = SqlRegistry(settings.storage.registry_dsn())
    store = SqliteStore(tmp_path / "ts.db")
    svc = IngestService(settings, store=store, registry=registry)
    batch = [_msg(i) for i in range(1, 50)]
    batch.insert(25, _msg(60, f_cnt=str(2**63)))
    batch.insert(10, _msg(61, decoded_payload=_deep(300)))
    svc.start(mqtt=False)
    try:
        svc.process_batch(batch)
        assert svc.wait_idle(20)  # the registry updates are applied from the buffer (#20)
        assert len(registry.journal("A84041000181C061", limit=500)) == 49
        assert svc.outcomes[("rejected", "out_of_range")] == 1
        assert svc.outcomes[("rejected", "too_large")] == 1
    finally:
        svc.stop()
        store.close()
        registry.close()


def test_overlong_names_are_rejected_too_large() -> None:
    """Names become tags and per-device cache keys: 256 characters at most."""
    topic, msg = _tts(NOW, dev="d" * 300)
    r = Pipeline().process(RawMessage(topic=topic, payload=json.dumps(msg).encode()))
    assert (r.outcome, r.reason) == ("rejected", "too_large"), r.message
    assert "device_id" in (r.message or "")
