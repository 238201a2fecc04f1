"""The Device Repository as a codec source (decoders/repository.py), on the fixture
repository in tests/decoders/device_repository (see its README: our own files, in the
layout of TheThingsNetwork/lorawan-devices).

``test_real_repository_examples`` runs every codec example of a real local checkout of
TheThingsNetwork/lorawan-devices when ``LORAWAN_TEST_DEVICE_REPOSITORY`` names one; the
project may not copy the repository's codecs, so the suite cannot carry them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from decoders import NATIVE, decode
from decoders.errors import CodecUnavailableError
from decoders.js import BrokenCodec, JsCodecDecoder
from decoders.normalized import normalize_measurements
from decoders.quantities import Quantity
from decoders.repository import (
    DeviceRepository,
    RepositoryCatalog,
    ResolutionError,
    repository_band,
    with_repository,
)
from lorawan_monitor.errors import ConfigError

FIXTURE = Path(__file__).parent / "device_repository"
REAL = os.environ.get("LORAWAN_TEST_DEVICE_REPOSITORY")


@pytest.fixture(scope="module")
def repo() -> DeviceRepository:
    return DeviceRepository(FIXTURE)


@pytest.fixture(scope="module")
def catalog() -> Iterator[RepositoryCatalog]:
    yield with_repository(NATIVE, FIXTURE)


# --- resolution rules ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("band_id", "key"),
    [
        ("EU_863_870", "EU863-870"),
        ("US_902_928", "US902-928"),
        ("AS_923", "AS923"),
        ("AS_923_2", "AS923-2"),
        ("EU863-870", "EU863-870"),
    ],
)
def test_tts_band_ids_become_repository_keys(band_id: str, key: str) -> None:
    assert repository_band(band_id) == key


def test_default_is_the_newest_firmware_and_eu868(repo: DeviceRepository) -> None:
    r = repo.resolve("acme/multi")
    assert r is not None and r.js_file is not None
    assert (r.firmware, r.band, r.codec_id, r.js_file.name) == (
        "2.0",
        "EU863-870",
        "acme-v2-codec",
        "acme-v2.js",
    )
    assert r.vendor_name == "Acme Test Devices"


def test_firmware_and_band_pick_the_profile(repo: DeviceRepository) -> None:
    r = repo.resolve("acme/multi", firmware="1.0", band="EU_863_870")
    assert r is not None and r.codec_id == "acme-v1-codec"
    r = repo.resolve("acme/multi", firmware="1.0", band="US_902_928")
    assert r is not None and r.codec_id == "acme-us-codec" and r.band == "US902-928"


def test_unknown_firmware_or_band_falls_back_with_a_note(repo: DeviceRepository) -> None:
    r = repo.resolve("acme/multi", firmware="9.9", band="AS_923")
    assert r is not None and r.codec_id == "acme-v2-codec"
    assert r.notes == (
        "firmware '9.9' not listed; used '2.0'",
        "no profile for band AS923; used EU863-870",
    )


def test_models_the_repository_does_not_list(repo: DeviceRepository) -> None:
    assert repo.resolve("acme/nothing") is None
    assert repo.resolve("ghost/device") is None  # vendor listed, no folder
    assert repo.resolve("unlisted/device") is None


def test_a_device_without_codec(repo: DeviceRepository) -> None:
    r = repo.resolve("nocodec/plain")
    assert r is not None and r.js_file is None and r.profile == "nocodec-profile"


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("broken/no-yaml", "no-yaml.yaml does not exist"),
        ("broken/bad-yaml", "bad-yaml.yaml cannot be read as YAML"),
        ("broken/no-firmware", "no-firmware.yaml: no firmwareVersions"),
        ("broken/no-codec-yaml", "no-codec-yaml-codec.yaml does not exist"),
        ("broken/no-js", "uplinkDecoder.fileName"),
    ],
)
def test_broken_files_are_resolution_errors(
    repo: DeviceRepository, model: str, fragment: str
) -> None:
    with pytest.raises(ResolutionError, match=fragment.replace(".", r"\.")):
        repo.resolve(model)


def test_a_folder_that_is_no_repository(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LORAWAN_INGEST__DEVICE_REPOSITORY=.*vendor/index.yaml"):
        DeviceRepository(tmp_path)


# --- the lazy catalog ---------------------------------------------------------------


def test_native_decoder_wins(catalog: RepositoryCatalog) -> None:
    assert catalog.find("elsys/ers-co2") is NATIVE.get("elsys/ers-co2")


def test_repository_codec_is_loaded_lazily_and_shared(catalog: RepositoryCatalog) -> None:
    d = catalog.find("elsys/ers")
    assert isinstance(d, JsCodecDecoder) and d.has_normalize
    assert catalog.find("elsys/ers", {"band_id": "US_902_928"}) is d  # same file, same isolate
    assert "elsys/ers" in catalog and "elsys/ers" not in catalog.items_ids()


def test_normalize_uplink_gives_the_readings(catalog: RepositoryCatalog) -> None:
    payload = bytes.fromhex("01 00E2 02 29 04 0027 05 06 06 0308 07 0E10")
    result = decode("elsys/ers", payload, 1, catalog=catalog)
    got = {(r.quantity, r.sensor): r.value for r in result.readings}
    assert got == {
        (Quantity.TEMPERATURE, ""): 22.6,
        (Quantity.RELATIVE_HUMIDITY, ""): 41,
        (Quantity.ILLUMINANCE, ""): 39,
        (Quantity.CO2, ""): 776,
        (Quantity.MOTION, ""): 6,
        (Quantity.BATTERY_VOLTAGE, ""): 3.6,  # vdd mV -> schema battery V
    }


def test_firmware_versions_pick_different_codecs(catalog: RepositoryCatalog) -> None:
    v1 = catalog.find("acme/multi", {"firmware_version": "1.0"})
    v2 = catalog.find("acme/multi", {"firmware_version": "2.0"})
    assert v1 is not None and v2 is not None and v1 is not v2
    raw = bytes.fromhex("0929")  # 2345
    assert decode("acme/multi", raw, 1, decoder=v1).decoded == {"codec": "v1", "temperature": 234.5}
    assert decode("acme/multi", raw, 1, decoder=v2).decoded == {"codec": "v2", "temperature": 23.45}


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("broken/no-js", "Device Repository: "),
        ("broken/syntax", "syntax.js: cannot be compiled: SyntaxError"),
    ],
)
def test_broken_codecs_become_codec_errors(
    catalog: RepositoryCatalog, model: str, fragment: str
) -> None:
    d = catalog.find(model)
    assert isinstance(d, BrokenCodec)
    with pytest.raises(CodecUnavailableError, match=fragment):
        decode(model, b"\x01", 1, catalog=catalog)


def test_models_without_codec_are_not_in_the_registry(catalog: RepositoryCatalog) -> None:
    assert catalog.find("nocodec/plain") is None
    assert catalog.find("acme/nothing") is None
    assert "acme/multi" in catalog.closest("acme/mult")


# --- codec YAML examples as vectors ---------------------------------------------------


def _examples(root: Path) -> list[tuple[str, Path, dict[str, Any]]]:
    """(id, js file, example) for every codec YAML example of a repository checkout."""
    out = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for codec_yaml in sorted((root / "vendor").glob("*/*.yaml")):
        text = codec_yaml.read_text(encoding="utf-8", errors="replace")
        if "uplinkDecoder" not in text:  # codec YAMLs are named by their id, not by a suffix
            continue
        try:
            data = yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
        except yaml.YAMLError:
            continue
        dec = data.get("uplinkDecoder") if isinstance(data, dict) else None
        if not isinstance(dec, dict) or not dec.get("fileName"):
            continue
        js = codec_yaml.parent / str(dec["fileName"])
        for n, ex in enumerate(dec.get("examples") or ()):
            if isinstance(ex, dict) and isinstance(ex.get("input"), dict):
                out.append((f"{codec_yaml.parent.name}/{codec_yaml.stem}#{n}", js, ex))
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


_CODECS: dict[Path, JsCodecDecoder] = {}


def _run_example(js: Path, ex: dict[str, Any]) -> None:
    if js not in _CODECS:
        _CODECS[js] = JsCodecDecoder.from_source(
            js.read_text(encoding="utf-8"), filename=js.name, timeout_ms=2000
        )
    codec = _CODECS[js]
    inp = ex["input"]
    payload = bytes(int(b) & 0xFF for b in inp.get("bytes") or ())
    expected = ex.get("output") or {}
    if expected.get("errors"):
        with pytest.raises(Exception, match=""):
            codec.decode(payload, int(inp.get("fPort", 1)))
        return
    got = codec.decode(payload, int(inp.get("fPort", 1)))
    assert _same(dict(got), expected.get("data") or {}), f"{dict(got)} != {expected.get('data')}"
    want = (ex.get("normalizedOutput") or {}).get("data")
    if want is not None:
        assert _same(got.normalized, want), f"{got.normalized} != {want}"
        # and our mapping reads what the codec normalized without a warning
        assert normalize_measurements(want).warnings == ()


@pytest.mark.parametrize(
    ("js", "example"),
    [(js, ex) for _id, js, ex in _examples(FIXTURE)],
    ids=[i for i, _, _ in _examples(FIXTURE)],
)
def test_fixture_codec_examples(js: Path, example: dict[str, Any]) -> None:
    _run_example(js, example)


_REAL = _examples(Path(REAL)) if REAL else []


@pytest.mark.skipif(not REAL, reason="LORAWAN_TEST_DEVICE_REPOSITORY names no checkout")
@pytest.mark.parametrize(
    ("js", "example"), [(js, ex) for _i, js, ex in _REAL], ids=[i for i, _, _ in _REAL]
)
def test_real_repository_examples(js: Path, example: dict[str, Any]) -> None:
    """Every example of a real lorawan-devices checkout through our sandbox."""
    _run_example(js, example)
