"""Zero configuration for Device Repository models, end to end (#13): real mosquitto,
real influxd, the service built from settings as `ingest` builds it. One device is decoded
by its repository codec (fixture repository tests/decoders/device_repository, our own
files in the repository's layout, `LORAWAN_INGEST__DEVICE_REPOSITORY`), one only by The
Things Stack's `normalized_payload`, one has a broken repository codec."""

from __future__ import annotations

import json
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
FIXTURE = Path(__file__).resolve().parent.parent / "decoders" / "device_repository"


def _ns(t: datetime) -> int:
    return int(t.timestamp()) * 10**9 + t.microsecond * 1000


def _tts(
    device: str, model: str, f_cnt: int, payload: bytes, t: datetime, **um: object
) -> tuple[str, bytes]:
    topic, body = envelopes.tts_uplink(
        application="zero-city",
        device_id=device,
        dev_eui=f"70B3D57BA00000{f_cnt:02X}",
        f_port=1,
        f_cnt=f_cnt,
        payload=payload,
        received_at=t,
        model_id=model,
    )
    msg = json.loads(body)
    msg["uplink_message"].update(um)
    return topic, json.dumps(msg).encode()


def test_repository_and_normalized_devices_store_readings(
    mosquitto: Mosquitto, influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    settings = settings_for(
        mosquitto.port, influxd.url, influx_db, tmp_path, ingest={"device_repository": str(FIXTURE)}
    )
    t0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    messages = []
    for i in range(10):
        t = t0 + timedelta(minutes=10 * i)
        temp = 200 + i  # tenths of a degree
        payload = bytes([0x01, temp >> 8, temp & 0xFF, 0x02, 40 + i, 0x06, 0x03, 0x08])
        topic, body = _tts("ers-1", "elsys/ers", 1 + i, payload, t)
        messages.append(
            SimMessage(
                topic=topic,
                payload=body,
                device="ers-1",
                expected=(
                    Expected(quantity="temperature", sensor="", value=temp / 10, time_ns=_ns(t)),
                    Expected(quantity="relative_humidity", sensor="", value=40 + i, time_ns=_ns(t)),
                    Expected(quantity="co2", sensor="", value=776, time_ns=_ns(t)),
                ),
            )
        )
        topic, body = _tts(
            "wind-1",
            "nocodec/plain",
            100 + i,
            b"\x00",
            t,
            normalized_payload=[{"wind": {"speed": 2.5 + i, "direction": 180}}],
        )
        messages.append(
            SimMessage(
                topic=topic,
                payload=body,
                device="wind-1",
                expected=(
                    Expected(quantity="wind_speed", sensor="", value=2.5 + i, time_ns=_ns(t)),
                    Expected(quantity="wind_direction", sensor="", value=180, time_ns=_ns(t)),
                ),
            )
        )
    topic, bad = _tts("broken-1", "broken/syntax", 200, b"\x01", t0)
    service = IngestService(
        settings, store=InfluxStore(settings.influx), decoders=build_decoders(settings)
    )
    service.start()
    try:
        assert service.transport is not None
        assert service.transport.wait_subscribed(10)  # type: ignore[attr-defined]
        pub = Publisher("127.0.0.1", mosquitto.port, client_id="zero-" + influx_db)
        pub.publish([*messages, SimMessage(topic=topic, payload=bad, device="broken-1")])
        pub.close()
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while service.received < len(messages) + 1 and datetime.now(UTC) < deadline:
            time.sleep(0.05)
        assert service.wait_idle(30)
        expected = expected_points(messages)
        d = diff(expected, influx_points(influxd, influx_db, {k[0] for k in expected}))
        assert d["missing"] == 0 and d["extra"] == 0 and d["n_wrong"] == 0, repr(d)
        assert service.outcomes[("stored", "uplink")] == len(messages)
        assert service.outcomes[("rejected", "codec_error")] == 1
        [dead] = [dl for dl in service.buffer.dead_letters() if dl.reason == "codec_error"]
        assert "syntax.js: cannot be compiled: SyntaxError" in dead.message
    finally:
        service.stop()
