"""Meta-test: decoder modules <-> registrations <-> vector files (Telegraf's all_test.go).

* every module under decoders/vendors/**.py (not ``__init__``, not ``_``-prefixed helpers)
  registers at least one model id,
* every registered id has a vector file whose ``model:`` is that id, and every vector
  file belongs to a registered id,
* ids are lowercase ``brand/model``; every Field row names a catalogue Quantity,
* every model has at least one success and one error case.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from decoders import CATALOGUE, NATIVE, Decoder, Quantity
from tests.decoders import VENDORS_DIR, Case, all_cases, load_file, vector_files

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_.-]*$")
CATEGORIES = {"environment", "tourism", "traffic"}


def decoder_modules() -> list[str]:
    """Dotted names of every decoder module file under decoders/vendors/."""
    root = VENDORS_DIR.parent.parent
    out = []
    for path in sorted(VENDORS_DIR.rglob("*.py")):
        if path.name == "__init__.py" or path.name.startswith("_"):
            continue
        if "testdata" in path.parts:
            continue
        out.append(".".join(path.relative_to(root).with_suffix("").parts))
    return out


def registered_modules() -> dict[str, list[str]]:
    mods: dict[str, list[str]] = defaultdict(list)
    for model_id, decoder in NATIVE.items():
        mods[type(decoder).__module__].append(model_id)
    return mods


def vector_models() -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = defaultdict(list)
    for path in vector_files():
        model, _ = load_file(path)
        files[model].append(path)
    return files


def test_walkers_find_something() -> None:
    assert len(decoder_modules()) >= 2
    assert len(list(NATIVE)) >= 2


@pytest.mark.parametrize("module", decoder_modules())
def test_every_module_registers_a_model(module: str) -> None:
    assert module in registered_modules(), (
        f"{module} registers no model: add @register, and import its vendor package in "
        "decoders/vendors/__init__.py (and the module in the vendor's __init__.py)"
    )


@pytest.mark.parametrize("model_id", list(NATIVE))
def test_every_model_has_vectors(model_id: str) -> None:
    assert model_id in vector_models(), f"no testdata/*.yaml with 'model: {model_id}'"


@pytest.mark.parametrize("path", vector_files(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_vector_file_belongs_to_a_model(path: Path) -> None:
    model, _ = load_file(path)
    assert model in NATIVE, f"{path}: model {model!r} is not registered"


def test_vector_files_not_duplicated() -> None:
    dupes = {m: p for m, p in vector_models().items() if len(p) > 1}
    assert not dupes, f"one vector file per model id: {dupes}"


@pytest.mark.parametrize("model_id", list(NATIVE))
def test_model_id_and_attributes(model_id: str) -> None:
    assert ID_RE.match(model_id), f"{model_id!r} must be lowercase 'brand/model'"
    decoder: Decoder = NATIVE.get(model_id)
    assert decoder.category in CATEGORIES
    assert decoder.vendor and decoder.model_name
    assert all(isinstance(p, int) and 1 <= p <= 255 for p in decoder.ports), decoder.ports
    for f in decoder.fields:
        assert isinstance(f.quantity, Quantity), f"{model_id}: {f.key} -> {f.quantity!r}"
        assert f.quantity in CATALOGUE


@pytest.mark.parametrize("model_id", list(NATIVE))
def test_success_and_error_case_per_model(model_id: str) -> None:
    cases: list[Case] = [c for c in all_cases() if c.model == model_id]
    assert any(not c.is_error for c in cases), f"{model_id}: no success case"
    assert any(c.is_error for c in cases), f"{model_id}: no error case (wrong port/too short)"


def test_vectors_use_known_quantities() -> None:
    bad = [
        (c.id, r["quantity"])
        for c in all_cases()
        if not c.is_error
        for r in c.raw.get("readings") or []
        if r["quantity"] not in set(Quantity)
    ]
    assert not bad


def test_error_cases_name_decode_errors() -> None:
    import decoders.errors as errs

    names = {n for n in dir(errs) if isinstance(getattr(errs, n), type) and n.endswith("Error")}
    bad = [
        (c.id, c.raw["error"]) for c in all_cases() if c.is_error and c.raw["error"] not in names
    ]
    assert not bad, f"error must be a DecodeError subclass name from decoders.errors: {bad}"
