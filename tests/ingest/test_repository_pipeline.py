"""Uplinks of Device Repository models through the real pipeline (#13): zero
configuration from TTS ``version_ids`` (or a ChirpStack device tag ``model``), with the
fixture repository tests/decoders/device_repository (our own files, the repository's
layout). TTS envelope shape: /work/shared/reference/NETWORK-SERVER-FORMATS.md §4.1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from decoders import NATIVE
from decoders.repository import RepositoryCatalog, with_repository
from ingest.models import RawMessage
from ingest.pipeline import Pipeline, ProcessResult
from lorawan_monitor.errors import ConfigError
from lorawan_monitor.settings import Settings
from lorawan_monitor.wiring import build_decoders
from simulator import envelopes

FIXTURE = Path(__file__).parents[1] / "decoders" / "device_repository"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ELSYS = bytes.fromhex("0100E202290400270506060308070E10")


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(decoder_catalog=with_repository(NATIVE, FIXTURE))


def _tts(
    model: str, payload: bytes, versions: dict[str, str] | None = None, **um: Any
) -> RawMessage:
    topic, body = envelopes.tts_uplink(
        application="city",
        device_id="dev-1",
        dev_eui="70B3D57BA0000001",
        f_port=1,
        f_cnt=7,
        payload=payload,
        received_at=T0,
        model_id=model,
    )
    msg = json.loads(body)
    msg["uplink_message"]["version_ids"].update(versions or {})
    msg["uplink_message"].update(um)
    return RawMessage(topic=topic, payload=json.dumps(msg).encode())


def _readings(r: ProcessResult) -> dict[str, float]:
    out = {}
    for p in r.points:
        head, fields, _t = p.split(" ")
        name = head.split(",")[0]
        if name != "lorawan_uplink":
            out[name] = float(fields.removeprefix("value="))
    return out


def test_repository_model_stores_readings_with_zero_configuration(pipeline: Pipeline) -> None:
    r = pipeline.process(_tts("elsys/ers", ELSYS))
    assert r.outcome == "stored"
    assert r.record is not None and r.record.status == "decoded", r.record
    assert _readings(r) == {
        "temperature": 22.6,
        "relative_humidity": 41.0,
        "illuminance": 39.0,
        "co2": 776.0,
        "motion": 6.0,
        "battery_voltage": 3.6,
    }
    assert r.record.decoded == {
        "temperature": 22.6,
        "humidity": 41,
        "light": 39,
        "motion": 6,
        "co2": 776,
        "vdd": 3600,
    }


def test_native_decoder_still_wins(pipeline: Pipeline) -> None:
    r = pipeline.process(_tts("elsys/ers-co2", ELSYS))
    assert r.record is not None and r.record.decoder == "native:elsys/ers-co2"


@pytest.mark.parametrize(
    ("versions", "value"),
    [
        ({"firmware_version": "1.0", "band_id": "EU_863_870"}, 30.0),
        ({"firmware_version": "1.0", "band_id": "US_902_928"}, 1.0),
        ({"firmware_version": "2.0", "band_id": "EU_863_870"}, 3.0),
    ],
)
def test_version_ids_pick_the_codec(
    pipeline: Pipeline, versions: dict[str, str], value: float
) -> None:
    r = pipeline.process(_tts("acme/multi", bytes.fromhex("012C"), versions))  # 300
    assert r.record is not None and r.record.status == "decoded"
    assert _readings(r)["temperature"] == value


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("broken/syntax", "syntax.js: cannot be compiled: SyntaxError"),
        ("broken/no-js", "uplinkDecoder.fileName"),
        ("broken/bad-yaml", "cannot be read as YAML"),
    ],
)
def test_resolution_failures_are_a_per_device_status(
    pipeline: Pipeline, model: str, fragment: str
) -> None:
    r = pipeline.process(_tts(model, b"\x01"))
    assert r.outcome == "rejected" and r.reason == "codec_error"
    assert r.record is not None and r.record.status == "codec_error"
    assert r.record.error is not None and fragment in r.record.error
    assert any("decode_status=codec_error" in p for p in r.points)  # radio point kept


def test_a_broken_codec_falls_back_to_the_network_servers_payload(pipeline: Pipeline) -> None:
    r = pipeline.process(
        _tts("broken/syntax", b"\x01", normalized_payload=[{"air": {"temperature": 19.5}}])
    )
    assert r.record is not None and r.record.status == "lns_normalized"
    assert _readings(r) == {"temperature": 19.5}
    assert any("our decoder failed" in w for w in r.record.warnings)


def test_a_broken_codec_falls_back_to_the_decoded_payload(pipeline: Pipeline) -> None:
    r = pipeline.process(_tts("broken/syntax", b"\x01", decoded_payload={"temperature": 18.5}))
    assert r.record is not None and r.record.status == "lns_decoded"
    assert _readings(r) == {"temperature": 18.5}


def test_model_without_codec_uses_the_normalized_payload(pipeline: Pipeline) -> None:
    r = pipeline.process(
        _tts("nocodec/plain", b"\x01", normalized_payload=[{"wind": {"speed": 4.2}}])
    )
    assert r.record is not None and r.record.status == "lns_normalized"
    assert _readings(r) == {"wind_speed": 4.2}


def test_chirpstack_device_tag_names_the_model(pipeline: Pipeline) -> None:
    topic, body = envelopes.chirpstack_uplink(
        application_id="0f1c7d2e-0000-4000-8000-000000000001",
        application_name="city",
        dev_eui="70b3d57ba0000002",
        device_name="ers-2",
        f_port=1,
        f_cnt=3,
        payload=bytes.fromhex("012C"),
        time=T0,
        tags={"model": "acme/multi", "firmware_version": "1.0"},
    )
    r = pipeline.process(RawMessage(topic=topic, payload=body))
    assert r.record is not None and r.record.status == "decoded"
    assert _readings(r) == {"temperature": 30.0}  # firmware 1.0: tenths


def test_settings_wire_the_repository() -> None:
    reg = build_decoders(Settings(ingest={"device_repository": FIXTURE}))  # type: ignore[arg-type]
    assert isinstance(reg, RepositoryCatalog) and "elsys/ers" in reg


def test_a_wrong_repository_path_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LORAWAN_INGEST__DEVICE_REPOSITORY"):
        build_decoders(Settings(ingest={"device_repository": tmp_path}))  # type: ignore[arg-type]


def test_codec_error_devices_are_listed_as_failing(pipeline: Pipeline, tmp_path: Path) -> None:
    """The registry keeps the status and message; the installer's "problems" filter and
    traffic light count codec_error like error."""
    from api.routes.devices import traffic_light
    from storage.registry import SqlRegistry

    broken = pipeline.process(_tts("broken/syntax", b"\x01"))
    fine = pipeline.process(_tts("elsys/ers", ELSYS))
    fine_record = fine.record
    assert broken.record is not None and fine_record is not None
    fine_record.device_key = fine_record.dev_eui = "70B3D57BA0000099"
    registry = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        registry.record_uplinks([broken.record, fine_record])
        failing, n = registry.list_devices(decode_errors=True)
        assert n == 1 and failing[0].last_status == "codec_error"
        assert failing[0].last_error is not None and "SyntaxError" in failing[0].last_error
        assert traffic_light(failing[0], T0) == "decode_error"
        ok, _ = registry.list_devices(decode_errors=False)
        assert [d.last_status for d in ok] == ["decoded"]
    finally:
        registry.close()


def test_disabled_codecs_are_a_metric_and_strict_refuses(tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    (tmp_path / "bad.js").write_text("function decodeUplink(i) {\n")
    (tmp_path / "codecs.yaml").write_text("codecs: {bad.js: {models: [acme/a, acme/b]}}\n")
    reg = build_decoders(Settings(ingest={"codecs_dir": tmp_path}))  # type: ignore[arg-type]
    assert REGISTRY.get_sample_value("lorawan_codecs_disabled") == 2
    r = Pipeline(decoder_catalog=reg).process(_tts("acme/a", b"\x01"))
    assert r.record is not None and r.record.status == "codec_error"
    with pytest.raises(ConfigError, match="LORAWAN_INGEST__CODECS_STRICT"):
        build_decoders(Settings(ingest={"codecs_dir": tmp_path, "codecs_strict": True}))  # type: ignore[arg-type]
