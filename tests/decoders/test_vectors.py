"""One parametrized test over every vector file (decoders/vendors/*/testdata/*.yaml).

A success case must decode to ``decoded`` (same keys, numbers within 1e-9 relative),
normalize to ``readings`` (quantity, value, sensor; order-insensitive, as a multiset)
and produce exactly the listed ``warnings`` (one fragment per warning). An error case
must raise the named DecodeError subclass with ``message`` in its text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

import decoders
from decoders import DecodeError, Reading
from tests.decoders import Case, all_cases, numeric_diff

CASES = all_cases()
SUCCESS = [c for c in CASES if not c.is_error]
ERRORS = [c for c in CASES if c.is_error]


def reading_diff(expected: Sequence[Mapping[str, Any]], actual: Iterable[Reading]) -> list[str]:
    """Multiset comparison of readings; values within 1e-9 relative."""
    left = list(actual)
    diffs: list[str] = []
    for exp in expected:
        q, value, sensor = str(exp["quantity"]), float(exp["value"]), str(exp.get("sensor", ""))
        when = exp.get("time")  # optional: the device's own time, ISO 8601
        for i, r in enumerate(left):
            if (
                str(r.quantity) == q
                and r.sensor == sensor
                and math.isclose(r.value, value, rel_tol=1e-9, abs_tol=1e-12)
                and (when is None or (r.time is not None and r.time.isoformat() == str(when)))
            ):
                del left[i]
                break
        else:
            diffs.append(f"missing reading {q}={value} sensor={sensor!r} time={when}")
    diffs.extend(
        f"unexpected reading {r.quantity}={r.value} sensor={r.sensor!r} time={r.time}" for r in left
    )
    return diffs


def warning_diff(expected: Sequence[str], actual: Sequence[str]) -> list[str]:
    left = list(actual)
    diffs: list[str] = []
    for frag in expected:
        for i, w in enumerate(left):
            if frag in w:
                del left[i]
                break
        else:
            diffs.append(f"missing warning containing {frag!r}")
    diffs.extend(f"unexpected warning {w!r}" for w in left)
    return diffs


@pytest.mark.parametrize("case", SUCCESS, ids=[c.id for c in SUCCESS])
def test_decodes_vendor_example(case: Case) -> None:
    assert "decoded" in case.raw and "readings" in case.raw, (
        f"{case.file.name}: a success case needs 'decoded' and 'readings'"
    )
    result = decoders.decode(case.model, case.payload, case.f_port, case.variables)
    problems = numeric_diff(case.raw["decoded"], result.decoded)
    problems += reading_diff(case.raw["readings"] or [], result.readings)
    problems += warning_diff(case.raw.get("warnings") or [], result.warnings)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", SUCCESS, ids=[c.id for c in SUCCESS])
def test_normalizes_network_server_dict(case: Case) -> None:
    """The published vendor dict (as a network server would pass it) gives the same readings."""
    n = decoders.normalize(case.model, case.raw["decoded"])
    problems = reading_diff(case.raw["readings"] or [], n.readings)
    problems += warning_diff(case.raw.get("warnings") or [], n.warnings)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", ERRORS, ids=[c.id for c in ERRORS])
def test_rejects_bad_payload(case: Case) -> None:
    with pytest.raises(DecodeError) as info:
        decoders.decode(case.model, case.payload, case.f_port, case.variables)
    assert type(info.value).__name__ == case.raw["error"], (
        f"raised {type(info.value).__name__}: {info.value}"
    )
    assert str(case.raw.get("message", "")) in str(info.value)


def test_vectors_found() -> None:
    """The walker must actually find files (an empty glob would pass silently)."""
    assert len({c.file for c in CASES}) >= 2
    assert SUCCESS and ERRORS


def test_numeric_diff_catches_differences() -> None:
    """The comparison helpers themselves can fail."""
    assert numeric_diff({"a": 1.0}, {"a": 1.0 + 1e-12}) == []
    assert numeric_diff({"a": 1.0}, {"a": 1.0001})
    assert numeric_diff({"a": 1}, {"a": 1, "b": 2})
    assert numeric_diff({"a": {"x": 1}}, {"a": {"x": "1"}})
    assert numeric_diff({"a": True}, {"a": 1})
    r = Reading(quantity=decoders.Quantity.TEMPERATURE, value=1.0, sensor="1")
    assert reading_diff([{"quantity": "temperature", "value": 1.0, "sensor": "1"}], [r]) == []
    assert reading_diff([{"quantity": "temperature", "value": 1.0}], [r])
    assert warning_diff([], ["x"]) and warning_diff(["y"], ["x"])
