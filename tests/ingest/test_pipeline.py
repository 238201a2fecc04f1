"""Uplink -> points: compared with golden line-protocol files (issue #2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.models import RawMessage
from ingest.pipeline import Pipeline
from simulator import encoders, envelopes
from storage.registry_base import DeviceMeta

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _tts_fixture(name: str) -> RawMessage:
    body = (FIXTURES / name).read_bytes()
    d = json.loads(body)
    ids = d["end_device_ids"]
    topic = f"v3/{ids['application_ids']['application_id']}@ttn/devices/{ids['device_id']}/up"
    return RawMessage(topic=topic, payload=body)


def _lht65(f_cnt: int, *, temperature: float = 21.5, device: str = "lht-1") -> RawMessage:
    payload = encoders.lht65(temperature=temperature, humidity=55.0, battery_v=3.0)
    topic, body = envelopes.tts_uplink(
        application="city",
        device_id=device,
        dev_eui="A84041000181C0DE",
        f_port=2,
        f_cnt=f_cnt,
        payload=payload,
        received_at=T0,
        model_id="dragino/lht65",
    )
    return RawMessage(topic=topic, payload=body)


def test_tts_uplink_matches_golden_line_protocol() -> None:
    r = Pipeline().process(_tts_fixture("tts_uplink.json"))
    assert r.outcome == "stored"
    got = "\n".join(r.points) + "\n"
    golden = GOLDEN / "tts_uplink.lp"
    assert got == golden.read_text(encoding="utf-8")


def test_the_same_uplink_twice_gives_byte_identical_points() -> None:
    p = Pipeline()
    first = p.process(_tts_fixture("tts_uplink.json")).points
    again = p.process(_tts_fixture("tts_uplink.json")).points
    assert first == again


def test_uplink_point_carries_f_cnt_and_no_per_process_gap() -> None:
    """Frame-counter gaps are not computed per process (a worker on a shared subscription
    sees only part of a device's uplinks); the f_cnt they are computed from is stored."""
    p = Pipeline()
    for f_cnt in (1, 2, 5):
        line = next(ln for ln in p.process(_lht65(f_cnt)).points if ln.startswith("lorawan_"))
        assert f",f_cnt={float(f_cnt)!r}," in line
        assert "gap" not in line


def test_out_of_range_reading_is_dropped_with_a_warning() -> None:
    r = Pipeline().process(_lht65(1, temperature=200.0))
    assert r.record is not None
    assert not any(ln.startswith("temperature,") for ln in r.points)
    assert any("outside" in w and "temperature" in w for w in r.record.warnings)
    assert any(ln.startswith("relative_humidity,") for ln in r.points)


def test_decode_error_without_lns_payload_is_rejected_but_radio_point_written() -> None:
    topic, body = envelopes.tts_uplink(
        application="city",
        device_id="lht-2",
        dev_eui="A84041000181C0DF",
        f_port=2,
        f_cnt=3,
        payload=b"\x01\x02\x03",
        received_at=T0,
        model_id="dragino/lht65",
    )
    r = Pipeline().process(RawMessage(topic=topic, payload=body))
    assert (r.outcome, r.reason) == ("rejected", "payload_length")
    assert r.record is not None and r.record.status == "error"
    assert r.record.error and "11 bytes" in r.record.error
    assert len(r.points) == 1 and "decode_status=error" in r.points[0]


def test_network_server_payload_used_when_our_decoder_fails() -> None:
    topic, body = envelopes.tts_uplink(
        application="city",
        device_id="lht-3",
        dev_eui="A84041000181C0E0",
        f_port=2,
        f_cnt=3,
        payload=b"\x01\x02\x03",
        received_at=T0,
        model_id="dragino/lht65",
        decoded={"TempC_SHT": 19.5, "Hum_SHT": 60.1, "BatV": 3.01},
    )
    r = Pipeline().process(RawMessage(topic=topic, payload=body))
    assert r.outcome == "stored" and r.record is not None
    assert r.record.status == "lns_decoded"
    assert ("temperature", "internal", 19.5) in r.record.readings
    assert any("our decoder failed" in w for w in r.record.warnings)


def test_disagreement_with_network_server_is_a_warning() -> None:
    topic, body = envelopes.tts_uplink(
        application="city",
        device_id="lht-4",
        dev_eui="A84041000181C0E1",
        f_port=2,
        f_cnt=3,
        payload=encoders.lht65(temperature=21.5, humidity=55.0, battery_v=3.0),
        received_at=T0,
        model_id="dragino/lht65",
        decoded={"TempC_SHT": 25.0, "Hum_SHT": 55.0, "BatV": 3.0},
    )
    r = Pipeline().process(RawMessage(topic=topic, payload=body))
    assert r.record is not None and r.record.status == "decoded"
    assert any("network server decoded temperature[internal]=25" in w for w in r.record.warnings)


def test_no_decoder_and_no_lns_payload_is_kept_as_no_decoder() -> None:
    topic, body = envelopes.tts_uplink(
        application="city",
        device_id="x-1",
        dev_eui="A84041000181C0E2",
        f_port=7,
        f_cnt=1,
        payload=b"\x42",
        received_at=T0,
        model_id="acme/unknown-thing",
    )
    r = Pipeline().process(RawMessage(topic=topic, payload=body))
    assert (r.outcome, r.reason) == ("rejected", "no_decoder")
    assert r.record is not None and r.record.status == "no_decoder"
    assert len(r.points) == 1 and r.points[0].startswith("lorawan_uplink,")


def test_registry_metadata_sets_site_category_model_and_location_once() -> None:
    meta = DeviceMeta(
        site="Wyk Hafen",
        category="environment",
        latitude=54.69,
        longitude=8.57,
        model_override="dragino/lht65",
    )
    p = Pipeline(meta_lookup=lambda key: meta if key == "A84041000181C0DE" else None)
    first = p.process(_lht65(1)).points
    assert any(ln.startswith("temperature,") and r"site=Wyk\ Hafen" in ln for ln in first)
    loc = [ln for ln in first if ln.startswith("device_location,")]
    assert len(loc) == 1 and "latitude=54.69" in loc[0] and "longitude=8.57" in loc[0]
    assert not any(ln.startswith("device_location,") for ln in p.process(_lht65(2)).points)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("tts_join.json", "join"), ("tts_up_normalized.json", "normalized")],
)
def test_events_are_ignored_by_kind(name: str, kind: str) -> None:
    body = (FIXTURES / name).read_bytes()
    ids = json.loads(body)["end_device_ids"]
    suffix = "join" if kind == "join" else "up/normalized"
    topic = f"v3/{ids['application_ids']['application_id']}@ttn/devices/{ids['device_id']}/{suffix}"
    r = Pipeline().process(RawMessage(topic=topic, payload=body))
    assert (r.outcome, r.reason) == ("ignored", kind)
    assert r.points == []


def test_malformed_message_is_rejected_with_reason() -> None:
    r = Pipeline().process(RawMessage(topic="v3/a@ttn/devices/d/up", payload=b"{not json"))
    assert (r.outcome, r.reason) == ("rejected", "malformed")
    assert r.message


def test_uplink_point_and_record_name_the_source_it_came_through() -> None:
    """#16: with sources, ``lorawan_uplink`` carries a ``source`` tag (one value per
    source); the one LORAWAN_MQTT__* broker adds none (its series stay as they were); the
    reading points never do, and the registry record names the source only when there is
    one by name."""
    from storage.lineprotocol import parse_line

    p = Pipeline()
    named = _tts_fixture("tts_uplink.json")
    named.source = "tts-umwelt"
    for raw, tag, recorded in (
        (named, "tts-umwelt", "tts-umwelt"),
        (_tts_fixture("tts_uplink.json"), None, None),
    ):
        r = p.process(raw)
        assert r.outcome == "stored" and r.record is not None
        points = [parse_line(ln) for ln in r.points]
        (uplink,) = [pt for pt in points if pt.measurement == "lorawan_uplink"]
        assert uplink.tags.get("source") == tag
        assert all("source" not in pt.tags for pt in points if pt is not uplink)
        assert r.record.source_name == recorded and r.record.source == "tts"
