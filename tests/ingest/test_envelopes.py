"""Envelope parsers on recorded/documented messages; malformed input -> EnvelopeError only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.envelopes import detect, parse
from ingest.models import DeviceEvent, Uplink
from lorawan_monitor.errors import EnvelopeError

FIX = Path(__file__).parent / "fixtures"

TTS_UP = "v3/city-climate@ttn/devices/lht65-school-12/up"
CS4_APP = "0b4f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
CS4_UP = f"application/{CS4_APP}/device/a81758fffe0512ab/event/up"
CS4_DOC_APP = "17c82e96-be03-4f38-aef3-f83d48582d97"
CS4_DOC = f"application/{CS4_DOC_APP}/device/0101010101010101/event/"
CS3_UP = "application/12/device/0059ac0000181f2b/event/up"


def raw(name: str) -> bytes:
    return (FIX / name).read_bytes()


def obj(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(raw(name))
    return result


def dumps(msg: dict[str, Any]) -> bytes:
    return orjson.dumps(msg)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def uplink(topic: str, payload: bytes, **kw: Any) -> Uplink:
    parsed = parse(topic, payload, **kw)
    assert isinstance(parsed, Uplink), parsed
    return parsed


def event(topic: str, payload: bytes, **kw: Any) -> DeviceEvent:
    parsed = parse(topic, payload, **kw)
    assert isinstance(parsed, DeviceEvent), parsed
    return parsed


# --- The Things Stack -------------------------------------------------------------------


def test_tts_uplink_all_fields() -> None:
    up = uplink(TTS_UP, raw("tts_uplink.json"))
    assert up.source == "tts"
    assert up.uplink_id == "ns:uplink:01HQ3W7J4Y1A2B3C4D5E6F7G8H"
    assert (up.device_id, up.dev_eui) == ("lht65-school-12", "A84041000181C9E5")
    assert (up.application, up.tenant) == ("city-climate", "ttn")
    assert (up.f_port, up.f_cnt) == (2, 4711)
    assert up.payload == bytes.fromhex("CBF60B0D0376010ADD7FFF")
    # the Network Server's time, not the Application Server's top-level received_at
    assert up.received_at == utc("2024-02-20T09:41:06.968141Z")
    assert up.model_id == "dragino/lht65"
    assert up.lns_decoded == {
        "BatV": 3.062,
        "Bat_status": 3,
        "Ext_sensor": "Temperature Sensor",
        "Hum_SHT": 88.6,
        "TempC_DS": 27.81,
        "TempC_SHT": 28.29,
    }
    assert type(up.lns_decoded["Bat_status"]) is int  # TTS ints stay ints
    assert [g.gateway_id for g in up.gateways] == ["ttig-stadhuis", "kerkstraat-rak7268"]
    gw1, gw2 = up.gateways
    assert (gw1.eui, gw1.rssi, gw1.snr, gw1.channel) == ("58A0CBFFFE802A1B", -97, 4.5, 2)
    assert (gw1.latitude, gw1.longitude, gw1.altitude) == (52.0907, 5.1214, 12)
    assert (gw2.rssi, gw2.snr) == (-112, -3.25)
    assert gw2.time == utc("2024-02-20T09:41:06.912331Z")  # gps_time
    assert up.best_gateway == gw1
    r = up.radio
    assert (r.modulation, r.frequency, r.spreading_factor, r.bandwidth) == (
        "lora",
        868_500_000,
        9,
        125_000,
    )
    assert (r.coding_rate, r.data_rate, r.airtime) == ("4/5", 3, 0.205824)
    assert (up.confirmed, up.simulated, up.encrypted) == (False, False, False)


def test_tts_docs_example_pre_3_22_settings() -> None:
    """The Data Formats page example: coding_rate beside data_rate, data_rate_index given."""
    up = uplink("v3/app1/devices/dev1/up", raw("tts_uplink_docs_example.json"))
    assert up.tenant is None  # TTS Open Source topic: no @tenant
    assert (up.f_port, up.f_cnt, up.payload) == (0, 1, bytes.fromhex("8241de"))
    assert (up.radio.coding_rate, up.radio.data_rate, up.radio.frequency) == ("4/6", 5, 868300000)
    assert up.lns_decoded == {"temperature": 1.0, "luminosity": 0.64}
    assert up.received_at == utc("2020-02-12T15:15:45.789585Z")
    assert up.model_id is None


def test_tts_fport0_omitted_fields_default() -> None:
    up = uplink(
        "v3/city-climate@ttn/devices/eui-a84041000181c9e5/up", raw("tts_uplink_fport0.json")
    )
    assert (up.f_port, up.f_cnt, up.payload, up.lns_decoded) == (0, 4712, b"", None)
    assert up.gateways[0].channel == 0 and up.gateways[0].latitude is None
    assert (up.radio.spreading_factor, up.radio.data_rate) == (12, 0)


def test_tts_uplink_id_fallbacks() -> None:
    msg = obj("tts_uplink.json")
    msg["correlation_ids"] = [c for c in msg["correlation_ids"] if not c.startswith("ns:")]
    assert uplink(TTS_UP, dumps(msg)).uplink_id == "as:up:01HQ3W7J5K2Z8M4N6P0R1S2T3V"
    del msg["correlation_ids"]
    expected = "lht65-school-12:AY3P2vJ0dW6x8p9q5nT4Kw==:4711"
    assert uplink(TTS_UP, dumps(msg)).uplink_id == expected


def test_tts_received_at_falls_back_to_top_level() -> None:
    msg = obj("tts_uplink.json")
    del msg["uplink_message"]["received_at"]
    assert uplink(TTS_UP, dumps(msg)).received_at == utc("2024-02-20T09:41:07.164830Z")


def test_tts_flags_simulated_encrypted_attributes() -> None:
    msg = obj("tts_uplink.json")
    msg["simulated"] = True
    msg["uplink_message"]["confirmed"] = True
    msg["uplink_message"]["app_s_key"] = {"kek_label": "as", "encrypted_key": "AAAA"}
    msg["uplink_message"]["attributes"] = {"site": "school-12"}
    msg["uplink_message"]["decoded_payload_warnings"] = ["low battery"]
    up = uplink(TTS_UP, dumps(msg))
    assert (up.simulated, up.encrypted, up.confirmed) == (True, True, True)
    assert up.tags == {"site": "school-12"}
    assert up.lns_decode_warnings == ("low battery",)


@pytest.mark.parametrize(
    ("topic", "name", "kind", "time", "extra"),
    [
        (
            "v3/city-climate@ttn/devices/lht65-school-12/up/normalized",
            "tts_up_normalized.json",
            "normalized",
            "2024-02-20T09:41:06.968141Z",
            {"uplink_id": "ns:uplink:01HQ3W7J4Y1A2B3C4D5E6F7G8H"},
        ),
        (
            "v3/app1@ttn/devices/dev1/join",
            "tts_join.json",
            "join",
            "2020-02-17T07:49:09.736532Z",
            {},
        ),
        (
            "v3/asset-tracking@ttn/devices/tracker-7/service/data",
            "tts_service_data.json",
            "service_data",
            "2024-02-20T13:02:11.501Z",
            {"uplink_id": "ns:uplink:01HQ4B0BZ0A1B2C3D4E5F6G7H8"},
        ),
        (
            "v3/asset-tracking@ttn/devices/tracker-7/location/solved",
            "tts_location_solved.json",
            "location",
            "2024-02-20T13:02:11.498Z",
            {},
        ),
        (
            "v3/app1@ttn/devices/dev1/down/ack",
            "tts_down_ack.json",
            "downlink",
            "2020-02-17T10:32:24.590413Z",
            {"f_cnt": 1},
        ),
    ],
)
def test_tts_events(topic: str, name: str, kind: str, time: str, extra: dict[str, Any]) -> None:
    ev = event(topic, raw(name))
    assert (ev.source, ev.kind, ev.time) == ("tts", kind, utc(time))
    assert ev.device_id == topic.split("/")[3]
    for key, value in extra.items():
        assert getattr(ev, key) == value


def test_tts_down_failed_and_push_and_unknown() -> None:
    failed = {
        "end_device_ids": {"device_id": "dev1", "application_ids": {"application_id": "app1"}},
        "downlink_failed": {
            "downlink": {"f_port": 15, "frm_payload": "vu8="},
            "error": {"name": "application_downlink_too_long", "message_format": "too long"},
        },
    }
    ev = event("v3/app1/devices/dev1/down/failed", dumps(failed))
    assert (ev.kind, ev.code, ev.description) == (
        "downlink",
        "application_downlink_too_long",
        "too long",
    )
    push = {"downlinks": [{"f_port": 15, "frm_payload": "vu8="}]}
    assert event("v3/app1/devices/dev1/down/push", dumps(push)).kind == "downlink"
    assert event("v3/app1/devices/dev1/some/future/event", b"{}").kind == "unknown"


# --- ChirpStack v4 ----------------------------------------------------------------------


def test_cs4_uplink_json_all_fields() -> None:
    up = uplink(CS4_UP, raw("cs4_up.json"))
    assert up.source == "chirpstack"
    assert up.uplink_id == "5e2c1d5e-8b3a-4f0e-9c51-7d2a0b1e9f43"
    assert (up.device_id, up.dev_eui) == ("a81758fffe0512ab", "A81758FFFE0512AB")
    assert (up.device_name, up.device_profile) == ("school-12-room-3", "elsys/ers-co2")
    assert (up.application, up.tenant) == ("air-quality", "Gemeente Utrecht")
    assert up.tags == {"room": "3", "school": "de-linde", "district": "oost"}
    assert (up.f_port, up.f_cnt, up.confirmed) == (5, 1843, False)
    assert up.payload == bytes.fromhex("0100e202290400270506060308070e41")
    assert up.received_at == utc("2025-03-18T08:14:23.412+00:00")
    assert up.model_id == "elsys/ers-co2"  # profile name looks like a Device Repository id
    assert up.lns_decoded is not None and up.lns_decoded["co2"] == 776.0
    assert type(up.lns_decoded["co2"]) is float  # ChirpStack f64 numbers kept as given
    gw1, gw2 = up.gateways
    assert (gw1.gateway_id, gw1.eui, gw1.rssi, gw1.snr, gw1.channel) == (
        "0016c001f153a14c",
        "0016C001F153A14C",
        -97,
        4.5,
        3,
    )
    assert gw1.latitude == 52.0907 and gw2.latitude is None  # location {} = unset
    r = up.radio
    assert (r.modulation, r.frequency, r.spreading_factor, r.bandwidth) == (
        "lora",
        867_100_000,
        7,
        125_000,
    )
    assert (r.coding_rate, r.data_rate) == ("4/5", 5)
    assert up.encrypted is False


def test_cs4_protobuf_equals_json() -> None:
    from_json = parse(CS4_UP, raw("cs4_up.json"))
    from_pb = parse(CS4_UP, raw("cs4_up.bin"))
    assert raw("cs4_up.bin")[:1] == b"\x0a"
    assert from_pb == from_json
    for name, ev in (("cs4_status", "status"), ("cs4_log_codec", "log")):
        topic = CS4_UP.replace("/up", f"/{ev}")
        assert parse(topic, raw(f"{name}.bin")) == parse(topic, raw(f"{name}.json"))


def test_cs4_pre41_omitted_defaults() -> None:
    up = uplink(CS4_DOC + "up", raw("cs4_up_pre41.json"))
    assert (up.f_cnt, up.f_port, up.confirmed, up.payload) == (0, 1, False, b"\xaa")
    assert up.received_at == utc("2022-07-18T09:34:15.775023+00:00")
    assert (up.radio.spreading_factor, up.radio.data_rate) == (11, 1)
    assert up.model_id is None and up.device_profile == "Test device-profile"
    assert up.lns_decoded is None


def test_cs4_model_from_tag_and_time_fallback() -> None:
    msg = obj("cs4_up_codec_error.json")
    msg["deviceInfo"]["deviceProfileName"] = "Elsys ERS CO2 (EU868)"
    del msg["time"]
    up = uplink(CS4_UP, dumps(msg))
    assert up.model_id == "elsys/ers-co2"  # tag "model"
    assert up.received_at == utc("2025-03-18T08:24:23.021+00:00")  # rxInfo[0].nsTime
    assert up.lns_decoded is None and up.confirmed is True
    msg["joinServerContext"] = {"sessionKeyId": "", "appSKey": {"kekLabel": "js", "aesKey": ""}}
    assert uplink(CS4_UP, dumps(msg)).encrypted is True


def test_cs4_status_and_log() -> None:
    status = event(CS4_UP.replace("/up", "/status"), raw("cs4_status.json"))
    assert (status.kind, status.battery, status.margin, status.external_power) == (
        "status",
        88.18898,
        10,
        False,
    )
    unavailable = event(CS4_UP.replace("/up", "/status"), raw("cs4_status_unavailable.json"))
    assert (unavailable.battery, unavailable.margin) == (None, 7)
    log = event(CS4_UP.replace("/up", "/log"), raw("cs4_log_codec.json"))
    assert (log.kind, log.level, log.code) == ("log", "ERROR", "UPLINK_CODEC")
    assert log.description == "decodeUplink returned errors: unknown data type 0xff"
    # the codec error points at the uplink of cs4_up_codec_error.json
    assert log.uplink_id == uplink(CS4_UP, raw("cs4_up_codec_error.json")).uplink_id


@pytest.mark.parametrize(
    ("name", "kind", "uplink_id", "f_cnt", "description"),
    [
        ("cs4_join", "join", "c9dbe358-2578-4fb7-b295-66b44edc45a6", None, None),
        ("cs4_ack", "ack", "856a03e7-80f6-4c26-b971-9dcb34a59c2e", 3, "acknowledged"),
        ("cs4_txack", "txack", None, 2, None),
    ],
)
def test_cs4_other_events(
    name: str, kind: str, uplink_id: str | None, f_cnt: int | None, description: str | None
) -> None:
    ev = event(CS4_DOC + kind, raw(f"{name}.json"))
    assert (ev.source, ev.kind, ev.device_id, ev.application) == (
        "chirpstack",
        kind,
        "0101010101010101",
        "Test application",
    )
    assert (ev.uplink_id, ev.f_cnt, ev.description) == (uplink_id, f_cnt, description)
    assert ev.time is not None


def test_cs4_unknown_and_location_integration_events() -> None:
    assert event(CS4_DOC + "future", b"\x00garbage").kind == "unknown"
    loc = obj("cs4_join.json") | {"location": {"latitude": 37.3, "longitude": -8.8}}
    assert event(CS4_DOC + "location", dumps(loc)).kind == "location"
    assert event(CS4_DOC + "integration", raw("cs4_join.json")).kind == "integration"


# --- ChirpStack v3 ----------------------------------------------------------------------


def test_cs3_json_v3_uplink() -> None:
    up = uplink(CS3_UP, raw("cs3_up_json_v3.json"))
    assert up.source == "chirpstack-v3"
    assert up.uplink_id == "0059ac0000181f2b:20211"
    assert (up.device_id, up.dev_eui, up.device_name) == (
        "0059ac0000181f2b",
        "0059AC0000181F2B",
        "p-garage-noord-017",
    )
    assert (up.application, up.f_port, up.f_cnt, up.payload) == (
        "parking-sensors",
        1,
        20211,
        b"\x01\x01",
    )
    assert up.received_at == utc("2021-06-02T14:03:11.482391Z")
    assert up.lns_decoded == {"occupied": True, "raw": 257}
    assert up.model_id == "nedap/sensit"
    assert [g.gateway_id for g in up.gateways] == ["garage-noord-gw", "stadskantoor"]
    assert up.gateways[1].latitude is None  # {0,0,0} = no coordinates
    assert up.gateways[0].snr == 7.8
    # json_v3 gives only the DR; 868.3 MHz is EU868 where DR3 = SF9/125 kHz
    assert (up.radio.data_rate, up.radio.spreading_factor, up.radio.bandwidth) == (3, 9, 125_000)


def test_cs3_json_marshaler_uplink() -> None:
    up = uplink("application/123/device/0202020202020202/event/up", raw("cs3_up_json.json"))
    assert up.dev_eui == "0202020202020202"  # base64 "AgICAgICAgI=" -> hex
    assert up.uplink_id == "0202020202020202:10:2019-11-08T13:59:25.123456Z"
    assert up.lns_decoded == {"temperatureSensor": 25, "humiditySensor": 32}  # objectJSON string
    assert (up.radio.bandwidth, up.radio.spreading_factor, up.radio.coding_rate) == (
        125_000,
        11,
        "4/5",
    )
    assert up.radio.data_rate == 1
    assert up.gateways[0].eui == "0303030303030303" and up.gateways[0].channel == 5
    assert up.received_at == utc("2019-11-08T13:59:25.048445Z")
    assert up.model_id is None and up.device_profile is None


def test_cs3_legacy_rx_topic_needs_receive_time() -> None:
    topic = "application/7/device/70b3d5e75e00a1c4/rx"
    up = uplink(topic, raw("cs3_rx_no_gateways.json"), received=1_700_000_000.25)
    assert up.received_at == datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)
    assert up.gateways == () and up.lns_decoded == {"fill_level": 50, "temperature": 11}
    with pytest.raises(EnvelopeError, match="no server time"):
        parse(topic, raw("cs3_rx_no_gateways.json"))
    msg = obj("cs3_rx_no_gateways.json") | {"publishedAt": "2023-11-14T22:13:21Z"}
    assert uplink(topic, dumps(msg)).received_at == utc("2023-11-14T22:13:21Z")


def test_cs3_error_and_status() -> None:
    err = event("application/12/device/0059ac0000181f2b/event/error", raw("cs3_error.json"))
    assert (err.kind, err.level, err.code, err.f_cnt) == ("error", "ERROR", "UPLINK_CODEC", 20212)
    assert err.description is not None and err.description.startswith("execute js error")
    assert err.uplink_id == "0059ac0000181f2b:20212"
    status = event("application/12/device/0059ac0000181f2b/status", raw("cs3_status.json"))
    assert (status.kind, status.battery, status.margin) == ("status", 75.5, 6)


# --- auto detection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "name", "kind"),
    [
        (TTS_UP, "tts_uplink.json", "tts"),
        (CS4_UP, "cs4_up.json", "chirpstack"),
        (CS4_UP, "cs4_up.bin", "chirpstack"),
        (CS3_UP, "cs3_up_json_v3.json", "chirpstack-v3"),
        # operator-chosen topic segments: told by the payload keys
        ("application/air/device/a81758fffe0512ab/event/up", "cs4_up.json", "chirpstack"),
        (
            "application/parking/device/0059ac0000181f2b/event/up",
            "cs3_up_json_v3.json",
            "chirpstack-v3",
        ),
    ],
)
def test_detect(topic: str, name: str, kind: str) -> None:
    assert detect(topic, raw(name)) == kind


def test_explicit_kind_and_auto_agree() -> None:
    assert parse(CS4_UP, raw("cs4_up.json"), "chirpstack") == parse(CS4_UP, raw("cs4_up.json"))
    with pytest.raises(EnvelopeError):
        parse(TTS_UP, raw("tts_uplink.json"), "chirpstack")


# --- malformed input --------------------------------------------------------------------


def _tts(mutate: Any) -> bytes:
    msg = obj("tts_uplink.json")
    mutate(msg)
    return dumps(msg)


def _cs4(mutate: Any) -> bytes:
    msg = obj("cs4_up.json")
    mutate(msg)
    return dumps(msg)


MALFORMED: list[tuple[str, str, bytes, str]] = [
    ("bad json", TTS_UP, b'{"end_device_ids": ', "not valid JSON"),
    ("json array", TTS_UP, b"[1, 2]", "expected a JSON object"),
    ("empty payload", CS4_UP, b"", "empty message"),
    ("unknown topic", "devices/x/up", b"{}", "unknown topic"),
    ("tts topic too short", "v3/app/devices/x", b"{}", "unknown topic shape"),
    (
        "tts device mismatch",
        "v3/city-climate@ttn/devices/other-device/up",
        raw("tts_uplink.json"),
        "TTS uplink: topic device 'other-device' != end_device_ids.device_id 'lht65-school-12'",
    ),
    (
        "tts application mismatch",
        "v3/other-app@ttn/devices/lht65-school-12/up",
        raw("tts_uplink.json"),
        "topic application",
    ),
    (
        "tts missing uplink_message",
        TTS_UP,
        _tts(lambda m: m.pop("uplink_message")),
        "missing uplink_message",
    ),
    ("tts missing ids", TTS_UP, _tts(lambda m: m.pop("end_device_ids")), "missing end_device_ids"),
    (
        "tts bad base64",
        TTS_UP,
        _tts(lambda m: m["uplink_message"].update(frm_payload="y/YL*DQ==")),
        "not base64",
    ),
    ("tts f_cnt text", TTS_UP, _tts(lambda m: m["uplink_message"].update(f_cnt="many")), "f_cnt"),
    ("tts f_port list", TTS_UP, _tts(lambda m: m["uplink_message"].update(f_port=[1])), "f_port"),
    (
        "tts rx_metadata object",
        TTS_UP,
        _tts(lambda m: m["uplink_message"].update(rx_metadata={"a": 1})),
        "rx_metadata must be a list",
    ),
    (
        "tts rssi text",
        TTS_UP,
        _tts(lambda m: m["uplink_message"]["rx_metadata"][0].update(rssi="loud")),
        "rssi",
    ),
    (
        "tts naive time",
        TTS_UP,
        _tts(lambda m: m["uplink_message"].update(received_at="2024-02-20T09:41:06")),
        "no UTC offset",
    ),
    (
        "tts no time at all",
        TTS_UP,
        _tts(lambda m: (m["uplink_message"].pop("received_at"), m.pop("received_at"))),
        "missing uplink_message.received_at",
    ),
    (
        "tts bad dev_eui",
        TTS_UP,
        _tts(lambda m: m["end_device_ids"].update(dev_eui="A84041000181C9")),
        "dev_eui",
    ),
    (
        "tts decoded list",
        TTS_UP,
        _tts(lambda m: m["uplink_message"].update(decoded_payload=[1])),
        "decoded_payload",
    ),
    (
        "tts frequency text",
        TTS_UP,
        _tts(lambda m: m["uplink_message"]["settings"].update(frequency="868.1 MHz")),
        "frequency",
    ),
    (
        "tts airtime",
        TTS_UP,
        _tts(lambda m: m["uplink_message"].update(consumed_airtime="66ms")),
        "consumed_airtime",
    ),
    (
        "cs4 dev_eui mismatch",
        f"application/{CS4_APP}/device/0101010101010101/event/up",
        raw("cs4_up.json"),
        "topic dev_eui '0101010101010101' != deviceInfo.devEui",
    ),
    (
        "cs4 application mismatch",
        f"application/{CS4_DOC_APP}/device/a81758fffe0512ab/event/up",
        raw("cs4_up.json"),
        "topic application",
    ),
    (
        "cs4 no dedup id",
        CS4_UP,
        _cs4(lambda m: m.pop("deduplicationId")),
        "missing deduplicationId",
    ),
    ("cs4 no deviceInfo", CS4_UP, _cs4(lambda m: m.pop("deviceInfo")), "missing deviceInfo"),
    ("cs4 data not base64", CS4_UP, _cs4(lambda m: m.update(data="not base64!")), "not base64"),
    ("cs4 data number", CS4_UP, _cs4(lambda m: m.update(data=17)), "base64 string"),
    ("cs4 object text", CS4_UP, _cs4(lambda m: m.update(object="{}")), "object must be"),
    ("cs4 no time", CS4_UP, _cs4(lambda m: (m.pop("time"), m.pop("rxInfo"))), "missing time"),
    ("cs4 tags not strings", CS4_UP, _cs4(lambda m: m["deviceInfo"].update(tags={"a": 1})), "tags"),
    ("cs4 truncated protobuf", CS4_UP, raw("cs4_up.bin")[:100], "not a valid protobuf"),
    ("cs4 garbage protobuf", CS4_UP, b"\xff\xff\xff\xff", "not a valid protobuf"),
    ("cs3 protobuf", CS3_UP, b"\x0a\x02\x31\x32", "only the json_v3 and json"),
    (
        "cs3 deveui mismatch",
        "application/12/device/0000000000000001/event/up",
        raw("cs3_up_json_v3.json"),
        "topic devEUI",
    ),
    (
        "cs3 app mismatch",
        "application/13/device/0059ac0000181f2b/event/up",
        raw("cs3_up_json_v3.json"),
        "applicationID",
    ),
    (
        "cs3 objectJSON broken",
        CS3_UP,
        b'{"devEUI":"0059ac0000181f2b","publishedAt":"2020-01-01T00:00:00Z","objectJSON":"{x"}',
        "objectJSON",
    ),
    ("cs3 deveui junk", CS3_UP, b'{"devEUI":"zz"}', "devEUI is neither"),
    (
        "cs3 unknown legacy topic",
        "application/12/device/0059ac0000181f2b/rxx",
        b"{}",
        "unknown topic",
    ),
]


@pytest.mark.parametrize(
    ("topic", "payload", "message"),
    [pytest.param(t, p, m, id=name) for name, t, p, m in MALFORMED],
)
def test_malformed_raises_envelope_error(topic: str, payload: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message if "|" in message else _literal(message)):
        parse(topic, payload)


def _literal(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize(
    ("topic", "name"),
    [
        (TTS_UP, "tts_uplink.json"),
        (CS4_UP, "cs4_up.json"),
        (CS4_UP, "cs4_up.bin"),
        (CS3_UP, "cs3_up_json_v3.json"),
        ("application/123/device/0202020202020202/event/up", "cs3_up_json.json"),
    ],
)
def test_every_truncation_is_envelope_error_or_parses(topic: str, name: str) -> None:
    data = raw(name)
    failures = 0
    for cut in range(len(data)):
        try:
            parse(topic, data[:cut], received=0.0)
        except EnvelopeError:
            failures += 1
    assert failures > len(data) // 2  # nearly every cut is rejected, and only as EnvelopeError


# --- fuzzing ----------------------------------------------------------------------------

TOPICS = [
    TTS_UP,
    "v3/app1/devices/dev1/join",
    "v3/app1/devices/dev1/up/normalized",
    CS4_UP,
    CS4_UP.replace("/up", "/status"),
    CS4_UP.replace("/up", "/log"),
    CS4_UP.replace("/up", "/txack"),
    CS3_UP,
    "application/12/device/0059ac0000181f2b/rx",
    "application/x/device/y/event/up",
    "garbage",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _expect_only_envelope_error(topic: str, payload: bytes) -> None:
    try:
        parse(topic, payload, received=1.0)
    except EnvelopeError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TOPICS), st.binary(max_size=300))
def test_fuzz_random_bytes(topic: str, payload: bytes) -> None:
    _expect_only_envelope_error(topic, payload)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TOPICS), json_values)
def test_fuzz_random_json(topic: str, value: Any) -> None:
    _expect_only_envelope_error(topic, json.dumps(value).encode())


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


FUZZ_BASES = [
    (TTS_UP, "tts_uplink.json"),
    (CS4_UP, "cs4_up.json"),
    (CS4_UP.replace("/up", "/status"), "cs4_status.json"),
    (CS4_UP.replace("/up", "/log"), "cs4_log_codec.json"),
    (CS3_UP, "cs3_up_json_v3.json"),
    ("application/123/device/0202020202020202/event/up", "cs3_up_json.json"),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FUZZ_BASES), st.data(), json_values)
def test_fuzz_mutated_fixtures(base: tuple[str, str], data: st.DataObject, value: Any) -> None:
    """One field of a real message replaced by random JSON: parses or EnvelopeError."""
    topic, name = base
    msg = obj(name)
    path = data.draw(st.sampled_from(_paths(msg)[1:]))
    target: Any = msg
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _expect_only_envelope_error(topic, json.dumps(msg).encode())


# --- modulations, regions and rarely seen fields ----------------------------------------


def test_tts_non_lora_and_roaming() -> None:
    msg = obj("tts_uplink.json")
    um = msg["uplink_message"]
    um["settings"]["data_rate"] = {"fsk": {"bit_rate": 50000}}
    rx = um["rx_metadata"][0]
    rx["gateway_ids"] = {"gateway_id": "packetbroker"}
    rx["packet_broker"] = {"forwarder_gateway_eui": "58a0cbfffe802a1b"}
    del rx["snr"]
    up = uplink(TTS_UP, dumps(msg))
    assert (up.radio.modulation, up.radio.spreading_factor) == ("fsk", None)
    assert (up.gateways[0].gateway_id, up.gateways[0].eui) == ("packetbroker", "58A0CBFFFE802A1B")
    assert up.gateways[0].snr is None  # no SNR for FSK; absent is not 0 dB here
    um["settings"]["data_rate"] = {
        "lrfhss": {"modulation_type": 0, "operating_channel_width": 137000, "coding_rate": "2/3"}
    }
    r = uplink(TTS_UP, dumps(msg)).radio
    assert (r.modulation, r.bandwidth, r.coding_rate) == ("lr-fhss", 137000, "2/3")


@pytest.mark.parametrize(
    ("frequency", "sf", "bw", "dr"),
    [
        (868_100_000, 7, 250_000, 6),  # EU868 DR6
        (903_900_000, 10, 125_000, 0),  # US915 DR0
        (904_100_000, 8, 500_000, 4),  # US915 DR4
        (916_800_000, 8, 500_000, 6),  # AU915 DR6
        (916_800_000, 12, 125_000, 0),  # AU915 DR0
        (903_900_000, 12, 125_000, None),  # SF12 does not exist on US915 uplinks
        (868_100_000, 9, 500_000, None),
    ],
)
def test_data_rate_derived_per_region(frequency: int, sf: int, bw: int, dr: int | None) -> None:
    msg = obj("cs4_up.json")
    del msg["dr"]
    msg["txInfo"] = {
        "frequency": frequency,
        "modulation": {"lora": {"bandwidth": bw, "spreadingFactor": sf, "codeRate": "CR_4_5"}},
    }
    assert uplink(CS4_UP, dumps(msg)).radio.data_rate == dr


def test_cs4_non_lora_json_and_protobuf() -> None:
    from chirpstack_api import integration
    from google.protobuf import json_format

    msg = obj("cs4_up.json")
    msg["txInfo"]["modulation"] = {"fsk": {"frequencyDeviation": 25000, "datarate": 50000}}
    for rx in msg["rxInfo"]:
        del rx["snr"]
    msg["object"] = {"nested": {"list": [1.0, "a", None, True]}, "none": None}
    msg["joinServerContext"] = {"sessionKeyId": "AQI=", "appSKey": {"kekLabel": "js"}}
    pb = json_format.Parse(json.dumps(msg), integration.UplinkEvent()).SerializeToString()
    for payload in (dumps(msg), pb):
        up = uplink(CS4_UP, payload)
        assert (up.radio.modulation, up.radio.spreading_factor) == ("fsk", None)
        assert up.gateways[0].snr is None and up.encrypted is True
        assert up.lns_decoded == {"nested": {"list": [1.0, "a", None, True]}, "none": None}
    msg["txInfo"]["modulation"] = {
        "lrFhss": {"operatingChannelWidth": 1523000, "codeRate": "CR_2_6", "gridSteps": 52}
    }
    pb = json_format.Parse(json.dumps(msg), integration.UplinkEvent()).SerializeToString()
    for payload in (dumps(msg), pb):
        r = uplink(CS4_UP, payload).radio
        assert (r.modulation, r.bandwidth, r.coding_rate) == ("lr-fhss", 1523000, "2/6")


def test_cs4_protobuf_bad_timestamps_and_unknown_types() -> None:
    from chirpstack_api import integration

    for event_name, message_type in (
        ("status", integration.StatusEvent),
        ("up", integration.UplinkEvent),
    ):
        message = message_type()
        message.time.seconds = 2**62
        message.device_info.dev_eui = "a81758fffe0512ab"
        with pytest.raises(EnvelopeError, match="protobuf"):
            parse(CS4_UP.replace("/up", f"/{event_name}"), message.SerializeToString())
    with pytest.raises(EnvelopeError, match="no protobuf type"):
        parse(CS4_UP.replace("/up", "/integration"), b"\x0a\x01x")


def test_cs3_other_shapes() -> None:
    base = obj("cs3_up_json_v3.json")
    fsk = base | {"txInfo": {"frequency": 868_800_000, "modulation": "FSK"}}
    assert uplink(CS3_UP, dumps(fsk)).radio.modulation == "fsk"
    ack = {"applicationID": "12", "devEUI": "0059ac0000181f2b", "acknowledged": False, "fCnt": 4}
    ev = event("application/12/device/0059ac0000181f2b/event/ack", dumps(ack), received=5.0)
    assert (ev.kind, ev.description, ev.f_cnt) == ("ack", "not acknowledged", 4)
    assert ev.time == datetime.fromtimestamp(5.0, UTC)
    assert event("application/12/device/0059ac0000181f2b/event/future", b"").kind == "unknown"
    bad = {
        "objectJSON": (1, "objectJSON must be a string"),
        "object": ([1], "object must be a JSON object"),
        "devEUI": ("zzzzzzzzzzzzzzzz", "devEUI is neither"),
        "txInfo": ({"loRaModulationInfo": 5}, "loRaModulationInfo must be an object"),
    }
    for key, (value, message) in bad.items():
        with pytest.raises(EnvelopeError, match=message):
            parse(CS3_UP, dumps(base | {key: value}))
    with pytest.raises(EnvelopeError, match="devEUI is neither"):
        parse(CS3_UP, dumps(base | {"devEUI": "!!!!!!!!!!!="}))
    with pytest.raises(EnvelopeError, match="unknown topic shape"):
        parse("application/12/x/0059ac0000181f2b/event/up", b"{}", "chirpstack-v3")


def test_small_helpers_edge_cases() -> None:
    assert detect("my/topic", raw("tts_uplink.json")) == "tts"
    with pytest.raises(EnvelopeError, match="unknown envelope kind"):
        parse(TTS_UP, b"{}", "loriot")  # type: ignore[arg-type]
    msg = obj("cs4_up.json")
    msg["fCnt"] = 1843.0  # an integral float is still an integer
    msg["txInfo"]["modulation"]["lora"]["codeRate"] = "CR_UNDEFINED"
    up = uplink(CS4_UP, dumps(msg))
    assert (up.f_cnt, up.radio.coding_rate) == (1843, None)
    tts = obj("tts_uplink.json")
    tts["uplink_message"]["rx_metadata"].append("gateway")
    with pytest.raises(EnvelopeError, match="rx_metadata entries must be objects"):
        parse(TTS_UP, dumps(tts))
    tts = obj("tts_uplink.json")
    tts["uplink_message"]["settings"]["data_rate"]["lora"] = 7
    with pytest.raises(EnvelopeError, match="data_rate.lora must be an object"):
        parse(TTS_UP, dumps(tts))


def test_more_field_edge_cases() -> None:
    tts = obj("tts_uplink.json")
    del tts["uplink_message"]["consumed_airtime"]
    assert uplink(TTS_UP, dumps(tts)).radio.airtime is None
    tts["uplink_message"]["received_at"] = "yesterday"
    with pytest.raises(EnvelopeError, match="not an RFC 3339 time"):
        parse(TTS_UP, dumps(tts))
    cs4 = obj("cs4_up.json")
    del cs4["dr"], cs4["txInfo"]["modulation"]["lora"]["spreadingFactor"]
    cs4["txInfo"]["modulation"]["lora"]["codeRate"] = "CR_LI_4_8"
    r = uplink(CS4_UP, dumps(cs4)).radio
    assert (r.spreading_factor, r.data_rate, r.coding_rate) == (None, None, "4/8LI")
    cs4["rxInfo"] = [1]
    with pytest.raises(EnvelopeError, match="rxInfo entries must be objects"):
        parse(CS4_UP, dumps(cs4))


def test_last_edge_cases() -> None:
    base = obj("cs3_up_json_v3.json")
    for dr, expected in ((6, (7, 250_000)), (7, (None, None))):
        up = uplink(CS3_UP, dumps(base | {"txInfo": {"frequency": 868_100_000, "dr": dr}}))
        assert (up.radio.spreading_factor, up.radio.bandwidth) == expected
    tts = obj("tts_uplink.json")
    tts["uplink_message"]["settings"]["data_rate"]["lora"]["coding_rate"] = 5
    assert uplink(TTS_UP, dumps(tts)).radio.coding_rate is None
    tts["end_device_ids"]["application_ids"]["application_id"] = 5
    with pytest.raises(EnvelopeError, match="application_id must be a string"):
        parse(TTS_UP, dumps(tts))
    with pytest.raises(EnvelopeError, match="rxInfo entries must be objects"):
        parse(CS3_UP, dumps(base | {"rxInfo": ["gw"]}))


# --- The Things Stack: the fast path and the general parser agree (#19) --------------------

TTS_UPLINKS = [
    "tts_uplink.json",
    "tts_uplink_docs_example.json",
    "tts_uplink_fport0.json",
    "tts_uplink_normalized.json",
]


def _both_paths(payload: bytes) -> tuple[Any, Any]:
    """(fast, general) for TTS_UP: each an Uplink, or the exception's type for the fast path
    (any) and the EnvelopeError's text for the general parser."""
    from ingest.envelopes import tts, tts_fast
    from ingest.envelopes.base import load_object

    fast: Any
    general: Any
    try:
        fast = tts_fast.uplink(payload, "city-climate", "ttn", "lht65-school-12")
    except Exception as exc:
        fast = type(exc)
    try:
        general = tts._uplink(
            load_object(payload, "TTS uplink"), "city-climate", "ttn", "lht65-school-12"
        )
    except EnvelopeError as exc:
        general = str(exc)
    return fast, general


def _tts_fixture(name: str) -> dict[str, Any]:
    msg = obj(name)
    msg["end_device_ids"]["device_id"] = "lht65-school-12"
    msg["end_device_ids"].setdefault("application_ids", {})["application_id"] = "city-climate"
    return msg


@pytest.mark.parametrize("name", TTS_UPLINKS)
def test_tts_fast_path_takes_the_fixtures_as_the_general_parser_does(name: str) -> None:
    fast, general = _both_paths(dumps(_tts_fixture(name)))
    assert isinstance(general, Uplink)
    assert fast == general


def test_tts_fast_path_takes_rich_uplinks_as_the_general_parser_does() -> None:
    msg = _tts_fixture("tts_uplink.json")
    um = msg["uplink_message"]
    um["decoded_payload"] = {"temperature": 21.5, "list": [1, None, {"a": "b"}]}
    um["decoded_payload_warnings"] = ["low battery"]
    um["normalized_payload"] = [{"air": {"temperature": 21.5}}]
    um["attributes"] = {"site": "school-12"}
    um["confirmed"] = True
    um["app_s_key"] = None
    um["version_ids"]["firmware_version"] = "1.2"
    rx = um["rx_metadata"][0]
    rx["location"] = {"latitude": 54.7, "longitude": 8.5, "altitude": 3}
    rx["gps_time"] = "2024-02-20T09:41:06.123456789Z"
    rx.pop("snr", None)
    rx["rssi"] = None
    fast, general = _both_paths(dumps(msg))
    assert isinstance(general, Uplink)
    assert fast == general
    assert general.gateways[0].snr == 0.0 and general.encrypted and general.tags


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TTS_UPLINKS), st.data(), json_values)
def test_tts_fast_path_never_accepts_differently(
    name: str, data: st.DataObject, value: Any
) -> None:
    """One field replaced by random JSON: where the fast path accepts, the general parser
    accepts the same uplink; where it refuses, ``parse`` gives the general parser's answer."""
    msg = _tts_fixture(name)
    path = data.draw(st.sampled_from(_paths(msg)[1:]))
    target: Any = msg
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    payload = json.dumps(msg).encode()
    fast, general = _both_paths(payload)
    if isinstance(fast, Uplink):
        assert fast == general
    try:
        parsed: Any = parse(TTS_UP, payload)
    except EnvelopeError as exc:
        parsed = str(exc)
    assert parsed == general
