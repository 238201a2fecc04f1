"""A vendor-style JavaScript codec, dropped into the codecs folder, works end to end through
ingest: real mosquitto, real influxd, the service built from settings as `ingest` builds it
(issue #3 item 5)."""

from __future__ import annotations

import struct
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.service import IngestService
from lorawan_monitor.wiring import build_decoders
from simulator import envelopes
from simulator.fleet import Expected, SimMessage
from simulator.publisher import Publisher
from storage.influx import InfluxStore
from tests.integration.helpers import diff, expected_points, influx_points, settings_for
from tests.servers import Influxd, Mosquitto

pytestmark = pytest.mark.integration
CODECS = Path(__file__).resolve().parent.parent / "decoders" / "js" / "codecs"


def _acme_th(i: int, t: datetime) -> SimMessage:
    temp, hum, mv = round(12.5 + i / 10, 1), 40 + (i % 20) / 2, 3000 - i
    payload = struct.pack(">hBH", int(round(temp * 10)), int(hum * 2), mv)
    topic, body = envelopes.tts_uplink(
        application="js-city",
        device_id=f"acme-{i % 3}",
        dev_eui=f"00000000000ACE0{i % 3}",
        f_port=1,
        f_cnt=i,
        payload=payload,
        received_at=t,
        model_id="acme/th",
    )
    ns = int(t.timestamp()) * 10**9 + t.microsecond * 1000
    exp = (
        Expected(quantity="temperature", sensor="", value=temp, time_ns=ns),
        Expected(quantity="relative_humidity", sensor="", value=hum, time_ns=ns),
        Expected(quantity="battery_voltage", sensor="", value=mv / 1000, time_ns=ns),
    )
    return SimMessage(topic=topic, payload=body, device=f"acme-{i % 3}", expected=exp)


def test_js_codec_decodes_through_ingest(
    mosquitto: Mosquitto, influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    settings = settings_for(
        mosquitto.port, influxd.url, influx_db, tmp_path, ingest={"codecs_dir": str(CODECS)}
    )
    t0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    good = [_acme_th(i, t0 + timedelta(minutes=10 * i)) for i in range(1, 31)]
    topic, bad = envelopes.tts_uplink(
        application="js-city",
        device_id="acme-9",
        dev_eui="00000000000ACE09",
        f_port=1,
        f_cnt=1,
        payload=b"\x01\x02\x03",
        received_at=t0,
        model_id="acme/th",
    )
    service = IngestService(
        settings, store=InfluxStore(settings.influx), decoders=build_decoders(settings)
    )
    service.start()
    try:
        assert service.transport is not None
        assert service.transport.wait_subscribed(10)  # type: ignore[attr-defined]
        pub = Publisher("127.0.0.1", mosquitto.port, client_id="js-" + influx_db)
        pub.publish([*good, SimMessage(topic=topic, payload=bad, device="acme-9")])
        pub.close()
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while service.received < len(good) + 1 and datetime.now(UTC) < deadline:
            time.sleep(0.05)
        assert service.wait_idle(30)
        expected = expected_points(good)
        d = diff(expected, influx_points(influxd, influx_db, {k[0] for k in expected}))
        assert d["missing"] == 0 and d["extra"] == 0 and d["n_wrong"] == 0, repr(d)
        assert service.outcomes[("stored", "uplink")] == len(good)
        assert service.outcomes[("rejected", "codec_error")] == 1
        [dead] = [dl for dl in service.buffer.dead_letters() if dl.reason == "codec_error"]
        assert "expected 5 bytes on port 1, got 3" in dead.message
    finally:
        service.stop()
