"""Messages are acknowledged to the broker once they are in the durable buffer: after a
restart with the same persistent session nothing is redelivered — and without the
acknowledgements everything would be (the control case shows the test can tell)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingest.service import IngestService
from simulator.fleet import default_fleet, generate
from simulator.publisher import Publisher
from storage.sqlite import SqliteStore
from tests.integration.helpers import settings_for
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration


def _service(mosquitto: Mosquitto, tmp_path: Path, client_id: str) -> IngestService:
    settings = settings_for(
        mosquitto.port,
        None,
        "x",
        tmp_path,
        mqtt={"client_id": client_id, "session_expiry": 300, "envelope": "chirpstack"},
    )
    return IngestService(settings, store=SqliteStore(tmp_path / "ts.db"))


@pytest.mark.parametrize("acks", [True, False], ids=["acked", "control-without-acks"])
def test_nothing_is_redelivered_after_restart_when_acked(
    mosquitto: Mosquitto, tmp_path: Path, acks: bool
) -> None:
    client_id = f"acks-{acks}-{tmp_path.name}"
    messages = list(generate(default_fleet(6, networks=("chirpstack",)), count=300, seed=8))
    first = _service(mosquitto, tmp_path, client_id)
    first.start()
    assert first.transport is not None and first.transport.wait_subscribed(10)  # type: ignore[attr-defined]
    if not acks:
        first.transport.ack = lambda tokens: None  # type: ignore[method-assign]
    pub = Publisher("127.0.0.1", mosquitto.port, client_id=f"pub-{client_id}")
    pub.publish(messages)
    pub.close()
    deadline = time.monotonic() + 30
    while first.received < len(messages) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.wait_idle(30)
    time.sleep(0.3)  # let the network thread flush the PUBACKs
    first.stop()

    second = _service(mosquitto, tmp_path, client_id)
    second.start()
    try:
        assert second.transport is not None and second.transport.wait_subscribed(10)  # type: ignore[attr-defined]
        time.sleep(1.5)
        redelivered = second.received
    finally:
        second.stop()
    assert redelivered == (0 if acks else len(messages))
