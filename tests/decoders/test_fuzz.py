"""Fuzz: random, truncated and mutated payloads on every registered model.

Only DecodeError may come out of ``decode`` (never IndexError, struct.error, ...), what
``decode`` returns is a JSON-shaped dict, and ``normalize`` of it never raises and
yields only finite readings. The decoders are called directly (not through
``decoders.decode``, which would wrap a decoder bug into a DecodeError and hide it).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders import NATIVE, DecodeError, Decoder, Quantity
from tests.decoders import all_cases

MODELS = list(NATIVE)
VECTOR_PAYLOADS: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
for _case in all_cases():
    VECTOR_PAYLOADS[_case.model].append((_case.f_port, _case.payload))

FUZZ = settings(
    max_examples=60,
    deadline=200,  # ms per example: a decoder that is this slow on ≤64 bytes has a loop bug
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)


def check_one(model_id: str, decoder: Decoder, payload: bytes, f_port: int) -> None:
    try:
        decoded = decoder.decode(payload, f_port, None)
    except DecodeError as exc:
        assert str(exc), f"{model_id}: DecodeError without a message"
        return
    assert isinstance(decoded, dict), f"{model_id}: decode returned {type(decoded).__name__}"
    json.dumps(decoded)  # JSON-shaped: str keys, JSON value types
    n = decoder.normalize(decoded)
    for r in n.readings:
        assert isinstance(r.quantity, Quantity)
        assert isinstance(r.value, float) and math.isfinite(r.value), (model_id, r)
    assert all(isinstance(w, str) for w in n.warnings)


def ports_for(decoder: Decoder) -> st.SearchStrategy[int]:
    sampled: st.SearchStrategy[int] = st.integers(min_value=0, max_value=255)
    if decoder.ports:
        return st.one_of(st.sampled_from(decoder.ports), sampled)
    return sampled


@pytest.mark.timeout(60)
@pytest.mark.parametrize("model_id", MODELS)
def test_random_payloads(model_id: str) -> None:
    decoder = NATIVE.get(model_id)

    @FUZZ
    @given(payload=st.binary(max_size=64), f_port=ports_for(decoder))
    def run(payload: bytes, f_port: int) -> None:
        check_one(model_id, decoder, payload, f_port)

    run()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("model_id", MODELS)
def test_mutated_vector_payloads(model_id: str) -> None:
    """Vector payloads with bytes overwritten: valid framing, hostile values."""
    decoder = NATIVE.get(model_id)
    seeds = [p for _, p in VECTOR_PAYLOADS[model_id] if p] or [b"\x00"]
    ports = sorted({port for port, _ in VECTOR_PAYLOADS[model_id]} | set(decoder.ports)) or [1]

    @FUZZ
    @given(
        seed=st.sampled_from(seeds),
        f_port=st.sampled_from(ports),
        edits=st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=4),
        cut=st.integers(0, 8),
        extra=st.binary(max_size=4),
    )
    def run(seed: bytes, f_port: int, edits: list[tuple[int, int]], cut: int, extra: bytes) -> None:
        b = bytearray(seed)
        for pos, value in edits:
            b[pos % len(b)] = value
        payload = bytes(b[: max(0, len(b) - cut)]) + extra
        check_one(model_id, decoder, payload, f_port)

    run()


def truncations() -> list[tuple[str, int, bytes]]:
    out: list[tuple[str, int, bytes]] = []
    for model_id, items in VECTOR_PAYLOADS.items():
        if model_id not in NATIVE:
            continue
        for f_port, payload in items:
            out.extend((model_id, f_port, payload[:n]) for n in range(len(payload)))
    return out


def test_truncated_vector_payloads() -> None:
    """Every proper prefix of every vector payload, on the vector's port."""
    cases = truncations()
    assert cases
    failures: list[Any] = []
    for model_id, f_port, prefix in cases:
        try:
            check_one(model_id, NATIVE.get(model_id), prefix, f_port)
        except Exception as exc:  # collect all, report together
            failures.append((model_id, f_port, prefix.hex(), repr(exc)))
    assert not failures, "\n".join(map(str, failures[:20]))


def test_check_one_catches_foreign_exceptions() -> None:
    """The harness itself fails on a non-DecodeError (so the fuzz tests can fail)."""

    class Broken(Decoder):
        model_ids = ("test/broken",)

        def decode(self, payload: bytes, f_port: int, variables: Any = None) -> dict[str, Any]:
            return {"x": payload[5]}

    with pytest.raises(IndexError):
        check_one("test/broken", Broken(), b"\x01", 1)
