"""What the registry must record for a processed chunk (ingest/registry_events.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.models import DeviceEvent
from ingest.pipeline import ProcessResult
from ingest.registry_events import registry_work, without

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _event(kind: str, **kw: object) -> DeviceEvent:
    return DeviceEvent(
        source="chirpstack",
        kind=kind,
        device_id="d",
        application="app",
        **kw,  # type: ignore[arg-type]
    )


def test_status_batteries_and_lns_codec_errors_become_registry_work() -> None:
    results = [
        ProcessResult(
            outcome="ignored",
            reason="status",
            device_key="A",
            event=_event("status", time=T0, battery=87.0),
        ),
        ProcessResult(
            outcome="ignored", reason="status", device_key="B", event=_event("status", time=T0)
        ),
        ProcessResult(
            outcome="ignored",
            reason="log",
            device_key="C",
            event=_event("log", time=T0, code="uplink_codec", description="bad", uplink_id="u1"),
        ),
        ProcessResult(
            outcome="ignored", reason="log", device_key="D", event=_event("log", code="OTHER")
        ),
        ProcessResult(
            outcome="ignored", reason="status", event=_event("status", time=T0, battery=5.0)
        ),
    ]
    work = registry_work(results)
    assert [(b.device_key, b.percent) for b in work.batteries] == [("A", 87.0)]
    [err] = work.codec_errors
    assert (err.device_key, err.message, err.uplink_id, err.time) == ("C", "bad", "u1", T0)
    assert work.records == []
    assert len(without(work, {id(err)})) == 1
