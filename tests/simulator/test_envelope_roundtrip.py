"""parse(build(...)) gives back what was built, and the builders speak each server's dialect."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.envelopes import parse
from ingest.models import DeviceEvent, Uplink
from simulator import envelopes as env
from simulator.envelopes import GatewayRx

ids = st.from_regex(r"[a-z0-9](-?[a-z0-9]){2,20}", fullmatch=True)
euis = st.binary(min_size=8, max_size=8).map(lambda b: b.hex())
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
numbers = st.integers(-(2**31), 2**31) | st.floats(-1e6, 1e6, allow_nan=False).map(
    lambda f: round(f, 3)
)
decoded = st.dictionaries(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True),
    numbers | st.booleans() | st.text(max_size=10),
    max_size=6,
)
gateways = st.lists(
    st.builds(
        GatewayRx,
        gateway_id=ids,
        eui=euis,
        rssi=st.integers(-140, -1),
        snr=st.integers(-80, 60).map(lambda q: q / 4),
        channel=st.integers(0, 7),
        latitude=st.none() | st.floats(-89, 89).map(lambda f: round(f, 5) or 1.0),
        longitude=st.floats(-179, 179).map(lambda f: round(f, 5) or 1.0),
        altitude=st.floats(1, 500).map(lambda f: round(f, 1)),
    ),
    min_size=1,
    max_size=3,
)
ports = st.integers(0, 223)
counters = st.integers(0, 2**32 - 1)
payloads = st.binary(max_size=51)
sfs = st.integers(7, 12)


def _uplink(topic: str, payload: bytes, **kw: Any) -> Uplink:
    parsed = parse(topic, payload, **kw)
    assert isinstance(parsed, Uplink), parsed
    return parsed


def _check_gateways(
    up: Uplink, gws: list[GatewayRx], *, int_altitude: bool = False, channel: bool = True
) -> None:
    assert [g.eui for g in up.gateways] == [g.eui.upper() for g in gws]
    assert [(g.rssi, g.snr) for g in up.gateways] == [(gw.rssi, gw.snr) for gw in gws]
    if channel:
        assert [g.channel for g in up.gateways] == [gw.channel for gw in gws]
    for got, gw in zip(up.gateways, gws, strict=True):
        if gw.latitude is None:
            assert got.latitude is None
        else:
            assert (got.latitude, got.longitude) == (gw.latitude, gw.longitude)
            alt = round(gw.altitude or 0) if int_altitude else gw.altitude
            assert got.altitude == alt


# --- The Things Stack -------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    app=ids,
    tenant=st.none() | st.sampled_from(["ttn", "gemeente"]),
    device=ids,
    dev_eui=euis,
    f_port=ports,
    f_cnt=counters,
    payload=payloads,
    when=times,
    model=st.none() | st.sampled_from(["dragino/lht65", "elsys/ers-co2"]),
    dec=st.none() | decoded,
    gws=gateways,
    sf=sfs,
)
def test_tts_uplink_roundtrip(
    app: str,
    tenant: str | None,
    device: str,
    dev_eui: str,
    f_port: int,
    f_cnt: int,
    payload: bytes,
    when: datetime,
    model: str | None,
    dec: dict[str, Any] | None,
    gws: list[GatewayRx],
    sf: int,
) -> None:
    payload = payload if f_port else b""
    topic, body = env.tts_uplink(
        application=app,
        tenant=tenant,
        device_id=device,
        dev_eui=dev_eui,
        f_port=f_port,
        f_cnt=f_cnt,
        payload=payload,
        received_at=when,
        model_id=model,
        decoded=dec,
        gateways=gws,
        spreading_factor=sf,
        frequency=868_300_000,
    )
    up = _uplink(topic, body)
    assert (up.source, up.application, up.tenant, up.device_id) == ("tts", app, tenant, device)
    assert (up.dev_eui, up.f_port, up.f_cnt, up.payload) == (
        dev_eui.upper(),
        f_port,
        f_cnt,
        payload,
    )
    assert up.received_at == when
    assert up.model_id == model
    assert up.lns_decoded == (dec or None)  # TTS omits an empty decoded_payload
    assert up.uplink_id.startswith("ns:uplink:") and len(up.uplink_id) == 36
    assert (up.radio.spreading_factor, up.radio.frequency, up.radio.data_rate) == (
        sf,
        868_300_000,
        12 - sf,
    )
    assert up.radio.airtime is not None and 0.02 < up.radio.airtime < 3.5
    _check_gateways(up, gws, int_altitude=True)
    # pure: the same call gives the same bytes; the next frame gets another id
    assert env.tts_uplink(
        application=app,
        tenant=tenant,
        device_id=device,
        dev_eui=dev_eui,
        f_port=f_port,
        f_cnt=f_cnt,
        payload=payload,
        received_at=when,
        model_id=model,
        decoded=dec,
        gateways=gws,
        spreading_factor=sf,
        frequency=868_300_000,
    ) == (topic, body)


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    out = [(path, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _walk(v, f"{path}[{i}]")
    return out


def test_tts_dialect_omits_empty_fields() -> None:
    when = datetime(2024, 2, 20, 9, 41, 6, 968141, tzinfo=UTC)
    _, body = env.tts_uplink(
        application="city",
        device_id="dev-1",
        dev_eui="a84041000181c9e5",
        f_port=0,
        f_cnt=0,
        payload=b"",
        received_at=when,
    )
    msg = json.loads(body)
    um = msg["uplink_message"]
    assert not {"f_port", "f_cnt", "frm_payload", "decoded_payload", "confirmed"} & um.keys()
    for path, value in _walk(msg):
        assert value not in ("", 0, False, [], {}) or isinstance(value, float), path
    assert msg["end_device_ids"]["dev_eui"] == "A84041000181C9E5"
    assert um["settings"]["frequency"] == "868100000"  # 64-bit integers are strings
    assert um["received_at"] == "2024-02-20T09:41:06.968141Z"
    assert re.fullmatch(r"\d+\.\d+s", um["consumed_airtime"])
    assert msg["correlation_ids"] == sorted(msg["correlation_ids"])


def test_tts_events_share_the_uplink_id() -> None:
    when = datetime(2024, 2, 20, 9, 41, 6, 500000, tzinfo=UTC)
    common: dict[str, Any] = {
        "application": "city",
        "device_id": "dev-1",
        "dev_eui": "A84041000181C9E5",
        "received_at": when,
    }
    frame: dict[str, Any] = common | {"f_port": 2, "f_cnt": 7, "payload": b"\x01"}
    up = _uplink(*env.tts_uplink(**frame))
    norm = parse(*env.tts_normalized(**frame, normalized={"air": {"temperature": 21.5}}))
    assert isinstance(norm, DeviceEvent)
    assert (norm.kind, norm.uplink_id, norm.time) == ("normalized", up.uplink_id, when)
    join = parse(*env.tts_join(**common))
    assert isinstance(join, DeviceEvent)
    assert (join.kind, join.device_id, join.dev_eui, join.time) == (
        "join",
        "dev-1",
        "A84041000181C9E5",
        when,
    )


# --- ChirpStack v4 ----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    app_id=st.uuids().map(str),
    app_name=st.text(min_size=1, max_size=20),
    dev_eui=euis,
    name=st.text(min_size=1, max_size=20),
    f_port=ports,
    f_cnt=counters,
    payload=payloads,
    when=times,
    profile=st.none() | st.sampled_from(["elsys/ers-co2", "Room sensors EU868"]),
    tags=st.dictionaries(st.sampled_from(["model", "site", "room"]), ids, max_size=3),
    obj=st.none() | decoded,
    gws=gateways,
    sf=sfs,
    marshaler=st.sampled_from(["json", "protobuf"]),
)
def test_chirpstack_uplink_roundtrip(
    app_id: str,
    app_name: str,
    dev_eui: str,
    name: str,
    f_port: int,
    f_cnt: int,
    payload: bytes,
    when: datetime,
    profile: str | None,
    tags: dict[str, str],
    obj: dict[str, Any] | None,
    gws: list[GatewayRx],
    sf: int,
    marshaler: Any,
) -> None:
    topic, body = env.chirpstack_uplink(
        application_id=app_id,
        application_name=app_name,
        dev_eui=dev_eui,
        device_name=name,
        f_port=f_port,
        f_cnt=f_cnt,
        payload=payload,
        time=when,
        device_profile_name=profile,
        tags=tags,
        object=obj,
        marshaler=marshaler,
        gateways=gws,
        spreading_factor=sf,
    )
    assert (body[:1] == b"{") == (marshaler == "json")
    up = _uplink(topic, body)
    assert (up.source, up.device_id, up.dev_eui, up.device_name) == (
        "chirpstack",
        dev_eui.lower(),
        dev_eui.upper(),
        name,
    )
    assert (up.application, up.f_port, up.f_cnt, up.payload) == (app_name, f_port, f_cnt, payload)
    assert up.received_at == when
    assert up.device_profile == (profile or "default") and up.tags == tags
    expected_model = tags.get("model") if "/" in tags.get("model", "") else None
    assert up.model_id == (expected_model or (profile if profile == "elsys/ers-co2" else None))
    assert up.lns_decoded == obj  # numbers compare equal; ChirpStack made them f64
    if obj:
        for key, value in obj.items():
            if isinstance(value, int) and not isinstance(value, bool):
                assert type(up.lns_decoded[key]) is float  # type: ignore[index]
    assert (up.radio.spreading_factor, up.radio.data_rate) == (sf, 12 - sf)
    _check_gateways(up, gws)


def test_chirpstack_dialect_emits_defaults() -> None:
    when = datetime(2025, 3, 18, 8, 14, 23, 412000, tzinfo=UTC)
    _, body = env.chirpstack_uplink(
        application_id="0b4f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        application_name="air",
        dev_eui="A81758FFFE0512AB",
        device_name="room-3",
        f_port=0,
        f_cnt=0,
        payload=b"",
        time=when,
    )
    msg = json.loads(body)
    for key in ("fPort", "fCnt", "confirmed", "data", "adr", "dr", "devAddr"):
        assert key in msg, key  # emit_fields since v4.1
    assert (msg["fPort"], msg["fCnt"], msg["data"], msg["confirmed"]) == (0, 0, "", False)
    assert msg["time"] == "2025-03-18T08:14:23.412+00:00"
    assert msg["deviceInfo"]["devEui"] == "a81758fffe0512ab"
    assert "object" not in msg and msg["deviceInfo"]["tags"] == {}
    assert "channel" not in msg["rxInfo"][0] or msg["rxInfo"][0]["channel"] != 0
    keys = [p.rsplit(".", 1)[-1] for p, _ in _walk(msg) if "." in p]
    assert all("_" not in k for k in keys if not k.endswith("]")), keys  # lowerCamelCase


@pytest.mark.parametrize("marshaler", ["json", "protobuf"])
def test_chirpstack_status_and_codec_log(marshaler: Any) -> None:
    when = datetime(2025, 3, 18, 8, 14, 23, tzinfo=UTC)
    device: dict[str, Any] = {
        "application_id": "0b4f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        "application_name": "air",
        "dev_eui": "a81758fffe0512ab",
        "device_name": "room-3",
    }
    up = _uplink(
        *env.chirpstack_uplink(
            **device, f_port=5, f_cnt=9, payload=b"\xff", time=when, marshaler=marshaler
        )
    )
    log = parse(
        *env.chirpstack_log(**device, time=when, uplink_id=up.uplink_id, marshaler=marshaler)
    )
    assert isinstance(log, DeviceEvent)
    assert (log.kind, log.code, log.level, log.uplink_id) == (
        "log",
        "UPLINK_CODEC",
        "ERROR",
        up.uplink_id,
    )
    for level, expected in ((72.5, 72.5), (None, None)):
        status = parse(
            *env.chirpstack_status(
                **device, time=when, margin=8, battery_level=level, marshaler=marshaler
            )
        )
        assert isinstance(status, DeviceEvent)
        assert (status.kind, status.battery, status.margin, status.time) == (
            "status",
            expected,
            8,
            when,
        )
    powered = parse(
        *env.chirpstack_status(
            **device, time=when, margin=3, battery_level=None, external_power=True
        )
    )
    assert isinstance(powered, DeviceEvent)
    assert (powered.external_power, powered.battery) == (True, None)


# --- ChirpStack v3 ----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    app_id=st.integers(1, 10_000),
    dev_eui=euis,
    f_port=ports,
    f_cnt=counters,
    payload=payloads,
    when=times,
    obj=st.none() | decoded,
    gws=gateways,
    sf=sfs,
    marshaler=st.sampled_from(["json_v3", "json"]),
    legacy=st.booleans(),
)
def test_chirpstack_v3_uplink_roundtrip(
    app_id: int,
    dev_eui: str,
    f_port: int,
    f_cnt: int,
    payload: bytes,
    when: datetime,
    obj: dict[str, Any] | None,
    gws: list[GatewayRx],
    sf: int,
    marshaler: Any,
    legacy: bool,
) -> None:
    topic, body = env.chirpstack_v3_uplink(
        application_id=app_id,
        application_name="parking",
        dev_eui=dev_eui,
        device_name="p-017",
        f_port=f_port,
        f_cnt=f_cnt,
        payload=payload,
        time=when,
        object=obj,
        marshaler=marshaler,
        tags={"model": "nedap/sensit"},
        gateways=gws,
        spreading_factor=sf,
        legacy_topic=legacy,
    )
    assert topic.endswith("/rx") == legacy
    up = _uplink(topic, body)
    assert (up.source, up.device_id, up.dev_eui) == ("chirpstack-v3", dev_eui, dev_eui.upper())
    assert (up.application, up.f_port, up.f_cnt, up.payload) == ("parking", f_port, f_cnt, payload)
    assert up.received_at == when  # first gateway time
    assert up.uplink_id.startswith(f"{dev_eui}:{f_cnt}")
    assert up.lns_decoded == obj and up.model_id == "nedap/sensit"
    assert (up.radio.spreading_factor, up.radio.bandwidth, up.radio.data_rate) == (
        sf,
        125_000,
        12 - sf,
    )
    _check_gateways(up, gws, channel=marshaler == "json")  # json_v3 has no channel


def test_chirpstack_v3_without_gateway_metadata_uses_receive_time() -> None:
    topic, body = env.chirpstack_v3_uplink(
        application_id=7,
        application_name="bins",
        dev_eui="70b3d5e75e00a1c4",
        device_name="bin-4",
        f_port=2,
        f_cnt=391,
        payload=b"2",
        time=None,
        gateways=[],
    )
    assert "rxInfo" not in json.loads(body)
    up = _uplink(topic, body, received=1_700_000_000.0)
    assert up.received_at == datetime.fromtimestamp(1_700_000_000, UTC)
    assert up.uplink_id == "70b3d5e75e00a1c4:391"


def test_formatting_helpers() -> None:
    assert [env.pb_duration(x) for x in (1.0, 0.066, 0.205824, 0.000000123)] == [
        "1s",
        "0.066s",
        "0.205824s",
        "0.000000123s",
    ]
    # SF7/125 kHz, 24-byte PHY payload: 61.696 ms (Semtech calculator)
    assert env.lora_airtime(24, 7) == pytest.approx(0.061696)
    assert env.rfc3339(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), z=False) == (
        "2024-01-02T03:04:05+00:00"
    )
    when = datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
    assert env.rfc3339(when) == "2024-01-02T03:04:05.120Z"
    topic, body = env.tts_uplink(
        application="a1",
        device_id="dev-1",
        dev_eui=None,
        f_port=1,
        f_cnt=1,
        payload=b"\x01",
        received_at=when,
        uplink_id="01HQ3W7J4Y1A2B3C4D5E6F7G8H",
    )
    up = _uplink(topic, body)
    assert (up.uplink_id, up.dev_eui) == ("ns:uplink:01HQ3W7J4Y1A2B3C4D5E6F7G8H", None)
    _, cs = env.chirpstack_uplink(
        application_id="0b4f7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        application_name="air",
        dev_eui="a81758fffe0512ab",
        device_name="room-3",
        f_port=1,
        f_cnt=1,
        payload=b"",
        time=when,
        object={"readings": [1, 2.5, True]},
    )
    assert json.loads(cs)["object"] == {"readings": [1.0, 2.5, True]}
    assert b'"readings":[1.0,2.5,true]' in cs  # f64 numbers, as ChirpStack's codec output
