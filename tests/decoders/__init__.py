"""Decoder tests, and loading the decoder test vectors (``decoders/vendors/*/testdata/*.yaml``).

Format: see ``decoders/vendors/_example/testdata/example.yaml``. Shared by the vector
walker, the decoder-catalog meta-test and the fuzz test (which truncates every payload).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import decoders

VENDORS_DIR = Path(decoders.__file__).parent / "vendors"

CASE_KEYS = {
    "description",
    "f_port",
    "payload",
    "recv_time",
    "variables",
    "decoded",
    "readings",
    "warnings",
    "error",
    "message",
}


@dataclass(frozen=True, kw_only=True)
class Case:
    file: Path
    model: str
    description: str
    f_port: int
    payload: bytes
    variables: Mapping[str, Any] | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        return f"{self.model}::{self.description}"

    @property
    def is_error(self) -> bool:
        return "error" in self.raw


def vector_files() -> list[Path]:
    return sorted(VENDORS_DIR.glob("*/testdata/*.yaml"))


@functools.cache
def load_file(path: Path) -> tuple[str, list[Case]]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or "model" not in doc or "cases" not in doc:
        raise ValueError(f"{path}: a vector file needs 'model' and 'cases'")
    model = str(doc["model"])
    cases: list[Case] = []
    for i, raw in enumerate(doc["cases"] or []):
        unknown = set(raw) - CASE_KEYS
        if unknown:
            raise ValueError(f"{path} case {i}: unknown keys {sorted(unknown)}")
        hexstr = "".join(str(raw.get("payload", "")).split())
        cases.append(
            Case(
                file=path,
                model=model,
                description=str(raw.get("description", f"case {i}")),
                f_port=int(raw["f_port"]),
                payload=bytes.fromhex(hexstr),
                variables=raw.get("variables"),
                raw=raw,
            )
        )
    return model, cases


@functools.cache
def _all_cases() -> tuple[Case, ...]:
    out: list[Case] = []
    for path in vector_files():
        out.extend(load_file(path)[1])
    return tuple(out)


def all_cases() -> list[Case]:
    """Every case of every vector file (parsed once per test session)."""
    return list(_all_cases())


def numeric_diff(expected: Any, actual: Any, path: str = "$", rel: float = 1e-9) -> list[str]:
    """Differences between two vendor dicts: same keys, numbers within ``rel``."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{path}: expected an object, got {actual!r}"]
        diffs: list[str] = []
        missing = set(expected) - set(actual)
        extra = set(actual) - set(expected)
        if missing:
            diffs.append(f"{path}: missing keys {sorted(missing, key=str)}")
        if extra:
            diffs.append(f"{path}: unexpected keys {sorted(extra, key=str)}")
        for k in expected:
            if k in actual:
                diffs.extend(numeric_diff(expected[k], actual[k], f"{path}.{k}", rel))
        return diffs
    if isinstance(expected, list):
        if not isinstance(actual, list | tuple) or len(actual) != len(expected):
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in numeric_diff(e, a, f"{path}[{i}]", rel)
        ]
    if isinstance(expected, bool) or isinstance(actual, bool):
        return [] if expected is actual else [f"{path}: expected {expected!r}, got {actual!r}"]
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        if math.isclose(expected, actual, rel_tol=rel, abs_tol=1e-12):
            return []
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    if expected != actual or type(expected) is not type(actual):
        return [f"{path}: expected {expected!r}, got {actual!r}"]
    return []
