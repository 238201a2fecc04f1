"""TTS ``normalized_payload`` through the real pipeline (#13).

The envelope shape is The Things Stack's ``uplink_message`` as documented in
/work/shared/reference/NETWORK-SERVER-FORMATS.md §4.1 (``normalized_payload`` is a list
of measurement objects, v3.21.2+); the measurement fields are those of the TTN Device
Repository schema ``lib/payload.json`` (TheThingsNetwork/lorawan-devices, commit
311659e1de23524e92d9ca176323dead48682838). Device values are illustrative.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ingest.models import RawMessage
from ingest.pipeline import Pipeline
from ingest.redecode import uplink_from_journal
from storage.registry import SqlRegistry

FIXTURES = Path(__file__).parent / "fixtures"


def _message(body: dict[str, Any]) -> RawMessage:
    ids = body["end_device_ids"]
    topic = f"v3/{ids['application_ids']['application_id']}@ttn/devices/{ids['device_id']}/up"
    return RawMessage(topic=topic, payload=json.dumps(body).encode())


def _fixture() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "tts_uplink_normalized.json").read_bytes())
    return loaded


def _readings(points: list[str]) -> dict[str, str]:
    """measurement[,sensor] -> value field, from line protocol."""
    out = {}
    for p in points:
        head, fields, _t = p.split(" ")
        name = head.split(",")[0]
        if name == "lorawan_uplink":
            continue
        sensor = next((t[7:] for t in head.split(",") if t.startswith("sensor=")), "")
        out[f"{name}[{sensor}]" if sensor else name] = fields.removeprefix("value=")
    return out


def test_normalized_payload_becomes_readings_with_its_own_status() -> None:
    r = Pipeline().process(_message(_fixture()))
    assert r.outcome == "stored"
    assert r.record is not None
    assert r.record.status == "lns_normalized"
    assert r.record.decoder == "lns:normalized"
    got = _readings(r.points)
    # soil.ec is dS/m in the schema, µS/cm in the catalogue
    assert got["soil_conductivity[soil]"] == "1520.0"
    assert got["soil_moisture[soil]"] == "41.5"
    assert got["temperature[soil]"] == "23.4"
    # a decoded_payload key the normalized payload does not cover stays available
    assert got["battery"] == "100.0"
    # ... but a quantity the normalized payload has is not stored twice
    assert "temperature" not in got
    assert any("decode_status=lns_normalized" in p and "decode_ok=1.0" in p for p in r.points)
    assert r.record.decoded is not None
    assert r.record.decoded["normalized_payload"][0]["soil"]["ec"] == 1.52
    assert r.record.decoded["decoded_payload"]["conductivity"] == 1520


def test_normalized_payload_without_decoded_payload() -> None:
    body = _fixture()
    del body["uplink_message"]["decoded_payload"]
    r = Pipeline().process(_message(body))
    assert r.record is not None and r.record.status == "lns_normalized"
    assert set(_readings(r.points)) == {
        "soil_conductivity[soil]",
        "soil_moisture[soil]",
        "temperature[soil]",
    }


def test_decoded_payload_alone_keeps_lns_decoded() -> None:
    body = _fixture()
    del body["uplink_message"]["normalized_payload"]
    r = Pipeline().process(_message(body))
    assert r.record is not None and r.record.status == "lns_decoded"
    assert "temperature" in _readings(r.points)


def test_a_native_decoder_still_wins_for_its_model() -> None:
    """dragino/lht65 has a native decoder: its readings, not the normalized payload's."""
    body = json.loads((FIXTURES / "tts_uplink.json").read_bytes())
    body["uplink_message"]["normalized_payload"] = [
        {"air": {"temperature": 99.0, "relativeHumidity": 1.0}}
    ]
    r = Pipeline().process(_message(body))
    assert r.record is not None and r.record.status == "decoded"
    assert r.record.decoder == "native:dragino/lht65"
    assert all("value=99.0" not in p for p in r.points)


def test_measurement_times_and_several_measurements() -> None:
    """Each measurement's ``time`` becomes its point's time (a datalog in one uplink)."""
    body = _fixture()
    del body["uplink_message"]["decoded_payload"]
    body["uplink_message"]["normalized_payload"] = [
        {"time": "2024-02-20T09:00:00Z", "air": {"temperature": 20.5}},
        {"time": "2024-02-20T09:10:00Z", "air": {"temperature": 21.0}},
    ]
    r = Pipeline().process(_message(body))
    temps = sorted(p for p in r.points if p.startswith("temperature,"))
    assert [p.split(" ")[1] for p in temps] == ["value=20.5", "value=21.0"]
    assert temps[0].endswith(" 1708419600000000000")
    assert temps[1].endswith(" 1708420200000000000")


def test_bad_entries_are_warnings_not_a_rejected_uplink() -> None:
    body = _fixture()
    body["uplink_message"]["normalized_payload"] = [
        "garbage",
        {"air": {"temperature": "warm", "co2": 612}, "unknown": {"x": 1}},
    ]
    r = Pipeline().process(_message(body))
    assert r.outcome == "stored"
    assert r.record is not None and r.record.status == "lns_normalized"
    assert "co2" in _readings(r.points)
    text = " | ".join(r.record.warnings)
    assert "normalized_payload[0]: not an object" in text
    assert "air.temperature: not a number ('warm')" in text
    assert "outside the repository schema ignored: unknown" in text


def test_out_of_range_normalized_value_is_dropped_with_a_warning() -> None:
    body = _fixture()
    body["uplink_message"]["normalized_payload"] = [{"soil": {"moisture": 140}}]
    r = Pipeline().process(_message(body))
    assert r.record is not None
    assert "soil_moisture[soil]" not in _readings(r.points)
    assert any("soil_moisture[soil]=140" in w for w in r.record.warnings)


def test_redecode_finds_the_normalized_payload_again(tmp_path: Path) -> None:
    """The journal keeps both payloads; a re-decode from it gives the same readings."""
    r = Pipeline().process(_message(_fixture()))
    assert r.record is not None and r.device_key is not None
    registry = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        registry.record_uplinks([r.record])
        (entry,) = registry.journal(r.device_key)
        device = registry.get_device(r.device_key)
        assert device is not None
        again = Pipeline().process_uplink(uplink_from_journal(entry, device))
    finally:
        registry.close()
    assert again.record is not None and again.record.status == "lns_normalized"
    assert _readings(again.points) == _readings(r.points)
