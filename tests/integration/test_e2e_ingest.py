"""End to end with real servers: simulator -> mosquitto -> ingest -> InfluxDB (issue #2).

1,000+ uplinks from 20+ devices in TTS v3 and ChirpStack v4 envelopes (JSON and
protobuf), 50+ malformed messages mixed in. Every expected point must be in InfluxDB
with its exact value and the uplink's own timestamp; the malformed ones are counted as
rejected with their reason; publishing everything again changes no point count.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ingest.service import IngestService
from simulator.fleet import default_fleet, generate
from simulator.publisher import Publisher
from storage.influx import InfluxStore
from tests.integration.helpers import (
    count_points,
    diff,
    expected_points,
    influx_points,
    settings_for,
)
from tests.servers import Influxd, Mosquitto

pytestmark = pytest.mark.integration


def test_simulated_uplinks_land_in_influxdb_exactly_once(
    mosquitto: Mosquitto, influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    settings = settings_for(mosquitto.port, influxd.url, influx_db, tmp_path)
    fleet = default_fleet(24, broken=2, networks=("tts", "chirpstack"))
    messages = list(generate(fleet, count=1200, malformed_count=60, seed=7))
    assert len({m.device for m in messages if m.device}) >= 20
    uplinks = [m for m in messages if m.device]
    malformed = [m for m in messages if m.reason == "malformed"]
    assert len(uplinks) == 1200 and len(malformed) == 60

    service = IngestService(settings, store=InfluxStore(settings.influx))
    service.start()
    try:
        assert service.transport is not None
        assert service.transport.wait_subscribed(10)  # type: ignore[attr-defined]
        pub = Publisher("127.0.0.1", mosquitto.port, client_id="sim-" + influx_db)
        pub.publish(messages)
        assert _wait_received(service, len(messages))
        assert service.wait_idle(60), service.buffer.stats()

        expected = expected_points(messages)
        got = influx_points(influxd, influx_db, {k[0] for k in expected})
        d = diff(expected, got)
        assert d["missing"] == 0 and d["extra"] == 0 and d["n_wrong"] == 0, repr(d)
        # one radio-metadata point per uplink, decodable or not
        assert count_points(influxd, influx_db, "lorawan_uplink", "f_cnt") == len(uplinks)

        outcomes = service.outcomes
        assert outcomes[("rejected", "malformed")] == len(malformed)
        broken = sum(1 for m in uplinks if m.outcome == "rejected")
        assert broken > 0
        assert outcomes[("rejected", "payload_length")] == broken
        assert outcomes[("stored", "uplink")] == len(uplinks) - broken
        reasons = Counter(dl.reason for dl in service.buffer.dead_letters(limit=1000))
        assert reasons["malformed"] == len(malformed)
        assert all(dl.message for dl in service.buffer.dead_letters(limit=1000))

        # publish everything again: idempotent writes, the point counts do not change
        before = {q: count_points(influxd, influx_db, q) for q in {k[0] for k in expected}}
        pub.publish(messages)
        assert _wait_received(service, 2 * len(messages))
        assert service.wait_idle(60)
        after = {q: count_points(influxd, influx_db, q) for q in before}
        assert after == before
        assert count_points(influxd, influx_db, "lorawan_uplink", "f_cnt") == len(uplinks)
        pub.close()
    finally:
        service.stop()


def _wait_received(service: IngestService, n: int, timeout: float = 60) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.received >= n:
            return True
        time.sleep(0.05)
    return False
