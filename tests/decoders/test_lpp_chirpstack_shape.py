"""ChirpStack v4's built-in Cayenne LPP codec nests values by channel
(``{"temperatureSensor": {"3": 27.2}}``, chirpstack/src/codec/cayenne_lpp.rs). Such an
``object`` normalizes to the same readings as our own LPP decoder gives for the bytes, with or
without a model id — the fallback for ChirpStack devices that carry no model tag."""

from __future__ import annotations

from datetime import UTC, datetime

import decoders
from decoders.common_keys import normalize_common
from ingest.models import RawMessage
from ingest.pipeline import Pipeline
from simulator import encoders, envelopes

PAYLOAD = encoders.lpp((3, "temperature", 27.2), (5, "relative_humidity", 55.5), (7, "presence", 1))
CS_OBJECT = {
    "temperatureSensor": {"3": 27.2},
    "humiditySensor": {"5": 55.5},
    "presenceSensor": {"7": 1.0},
}


def _readings(n: decoders.Normalized) -> set[tuple[str, str, float]]:
    return {(r.quantity.value, r.sensor, r.value) for r in n.readings}


def test_chirpstack_lpp_object_equals_our_decode_of_the_bytes() -> None:
    ours = decoders.decode("generic/cayenne-lpp", PAYLOAD, 1)
    assert _readings(decoders.normalize("generic/cayenne-lpp", CS_OBJECT)) == {
        (r.quantity.value, r.sensor, r.value) for r in ours.readings
    }
    assert _readings(normalize_common(CS_OBJECT)) == {
        (r.quantity.value, r.sensor, r.value) for r in ours.readings
    }


def test_other_objects_are_not_taken_for_lpp() -> None:
    n = normalize_common({"temperatureSensor": 3, "co2": 400})
    assert ("co2", "", 400.0) in _readings(n)
    assert any("temperatureSensor" in w for w in n.warnings)


def test_chirpstack_device_without_model_uses_the_lpp_object() -> None:
    topic, body = envelopes.chirpstack_uplink(
        application_id="0b0b8c47-1f6a-4b9e-9c55-3d5c2f0e1a11",
        application_name="city",
        dev_eui="a84041000181c0aa",
        device_name="lpp-no-tag",
        f_port=1,
        f_cnt=9,
        payload=PAYLOAD,
        time=datetime(2026, 6, 1, 12, tzinfo=UTC),
        object=CS_OBJECT,
    )
    r = Pipeline().process(RawMessage(topic=topic, payload=body))
    assert r.outcome == "stored" and r.record is not None
    assert r.record.status == "lns_decoded"
    assert set(r.record.readings) == {
        ("temperature", "3", 27.2),
        ("relative_humidity", "5", 55.5),
        ("presence", "7", 1.0),
    }
