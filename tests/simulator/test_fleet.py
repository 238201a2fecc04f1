"""The simulator produces valid payloads for every supported model, and the service makes
of them exactly the readings the simulator expects (issue #3 item 4, issue #2 item 5)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from decoders.catalog import NATIVE
from ingest.models import RawMessage
from ingest.pipeline import Pipeline
from simulator.fleet import default_fleet, generate, load_vectors, vector_devices

MODELS = [m for m in NATIVE if not m.startswith("example/")]


def _check(messages: list, pipeline: Pipeline) -> None:  # type: ignore[type-arg]
    for m in messages:
        r = pipeline.process(RawMessage(topic=m.topic, payload=m.payload))
        assert (r.outcome, r.reason) == (m.outcome, m.reason), (m.topic, r.message)
        got = {}
        for ln in r.points:
            if ln.startswith(("lorawan_uplink", "device_location")):
                continue
            head, fields, ts = ln.rsplit(" ", 2)
            meas, *tags = head.split(",")
            t = dict(kv.split("=", 1) for kv in tags)
            got[(meas, t.get("sensor", ""), int(ts))] = float(fields.split("=", 1)[1])
        want = {(e.quantity, e.sensor, e.time_ns): e.value for e in m.expected}
        assert got.keys() == want.keys(), (m.topic, sorted(got), sorted(want))
        for k, v in want.items():
            assert math.isclose(got[k], v, rel_tol=1e-9, abs_tol=1e-9), (k, got[k], v)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("network", ["tts", "chirpstack"])
def test_every_model_can_be_simulated(model: str, network: str) -> None:
    assert load_vectors(model), f"{model} has no success vector to simulate"
    devs = vector_devices([model], network)  # type: ignore[arg-type]
    messages = list(generate(devs, count=len(devs[0].vectors) * 2, seed=3))
    _check(messages, Pipeline())


def test_default_fleet_values_follow_a_daily_curve() -> None:
    fleet = default_fleet(4, networks=("tts",))
    start = datetime(2026, 6, 1, tzinfo=UTC)
    msgs = list(generate(fleet, start=start, count=4 * 144, seed=1))  # one day, 10-min interval
    temps = {}
    for m in msgs:
        for e in m.expected:
            if e.quantity == "temperature" and m.device == fleet[0].name:
                temps[datetime.fromtimestamp(e.time_ns / 1e9, UTC).hour] = e.value
    assert temps[15] - temps[3] > 6  # afternoon is warmer than the night by the curve's amplitude
    _check(msgs[:200], Pipeline())


def test_malformed_and_broken_messages_are_marked() -> None:
    fleet = default_fleet(8, broken=2)
    msgs = list(generate(fleet, count=200, malformed_count=20, seed=5))
    kinds = Counter((m.outcome, m.reason) for m in msgs)
    assert kinds[("rejected", "malformed")] == 20
    assert kinds[("rejected", "payload_length")] == 200 * 2 // 10
    _check(msgs, Pipeline())
    assert max(m.expected[0].time_ns for m in msgs if m.expected) > start_ns(msgs)


def start_ns(msgs: list) -> int:  # type: ignore[type-arg]
    return min(e.time_ns for m in msgs for e in m.expected) + int(
        timedelta(minutes=1).total_seconds() * 1e9
    )
