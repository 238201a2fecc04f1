"""JavaScript codecs in the embedded V8 (decoders/js/), with codecs written for these tests.

The codecs live in tests/decoders/js/codecs/ with their mapping file codecs.yaml.
"""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from decoders import NATIVE, DecodeError, decode
from decoders.catalog import DecoderCatalog
from decoders.errors import CodecError
from decoders.js import CodecData, JsCodecDecoder, load_codecs
from decoders.quantities import Quantity
from lorawan_monitor.errors import ConfigError

CODECS = Path(__file__).parent / "js" / "codecs"
EXAMPLE_VECTORS = (
    Path(__file__).parents[2] / "decoders" / "vendors" / "_example" / "testdata" / "example.yaml"
)
T0 = datetime(2024, 5, 17, 12, 0, tzinfo=UTC)


def codec(name: str, **kw: Any) -> JsCodecDecoder:
    return JsCodecDecoder.from_source((CODECS / name).read_text(), filename=name, **kw)


def inline(source: str, **kw: Any) -> JsCodecDecoder:
    return JsCodecDecoder.from_source(source, filename="inline.js", **kw)


@pytest.fixture(scope="module")
def catalog() -> Iterator[DecoderCatalog]:
    yield load_codecs(CODECS)


# --- working codecs ------------------------------------------------------------------


def test_ts013_codec_decodes_normalizes_and_passes_context(catalog: DecoderCatalog) -> None:
    d = catalog.get("acme/th")
    assert isinstance(d, JsCodecDecoder)
    assert d.interface == "ts013"  # detected: the mapping does not say
    decoded = d.decode(bytes.fromhex("00D7 50 0BB8"), 1, {"temp_offset": "0.5"}, recv_time=T0)
    assert decoded == {"temp": 22.0, "hum": 40, "battery_mv": 3000, "recv_year": 2024}
    n = d.normalize(decoded)
    got = {(r.quantity, r.sensor): r.value for r in n.readings}
    assert got == {
        (Quantity.TEMPERATURE, ""): 22.0,  # mapped: temp -> temperature
        (Quantity.BATTERY_VOLTAGE, ""): 3.0,  # mapped with scale 0.001
        (Quantity.RELATIVE_HUMIDITY, ""): 40.0,  # not mapped: common key name "hum"
    }
    assert n.warnings == ("keys without a known quantity ignored: recv_year",)


def test_codec_warnings_become_normalization_warnings(catalog: DecoderCatalog) -> None:
    result = decode("acme/th", bytes.fromhex("FF9C 64 09B0"), 1, catalog=catalog)
    assert result.decoded["temp"] == -10.0
    assert result.decoded["battery_mv"] == 2480
    assert "codec: battery low" in result.warnings
    assert isinstance(result.decoded, CodecData)


def test_both_model_ids_share_one_codec(catalog: DecoderCatalog) -> None:
    assert catalog.get("acme/th") is catalog.get("acme/th-pro")


def test_chirpstack_v3_codec(catalog: DecoderCatalog) -> None:
    d = catalog.get("acme/level")
    assert isinstance(d, JsCodecDecoder) and d.interface == "chirpstack-v3"
    result = decode(
        "acme/level", bytes.fromhex("04D2 0E10"), 10, {"mount_height_mm": 2000}, catalog=catalog
    )
    assert result.decoded == {"distance_mm": 1234, "level_mm": 766, "batV": 3.6}
    got = {r.quantity: r.value for r in result.readings}
    assert got[Quantity.DISTANCE] == pytest.approx(1.234)
    assert got[Quantity.WATER_LEVEL] == pytest.approx(0.766)
    assert got[Quantity.BATTERY_VOLTAGE] == pytest.approx(3.6)  # common key "batV"


def test_nodata_value_in_mapping_gives_warning(catalog: DecoderCatalog) -> None:
    result = decode("acme/level", bytes.fromhex("FFFF 0E10"), 10, catalog=catalog)
    assert Quantity.DISTANCE not in {r.quantity for r in result.readings}
    assert any(w.startswith("distance_mm: no data") for w in result.warnings)


def test_chirpstack_v3_detected_without_interface() -> None:
    d = codec("cs3-level.js")
    assert d.interface == "chirpstack-v3" and d.function == "Decode"


def test_bytes_arrive_as_js_array_of_ints() -> None:
    d = inline(
        "function decodeUplink(i) { return {data: {isArray: Array.isArray(i.bytes),"
        " types: i.bytes.map(function (b) { return typeof b; }).join(','),"
        " sum: i.bytes.reduce(function (a, b) { return a + b; }, 0),"
        " port: i.fPort, time: i.recvTime.toISOString(), vars: i.variables}}; }"
    )
    out = d.decode(b"\x00\x7f\xff", 7, {"a": "b"}, recv_time=T0)
    assert out == {
        "isArray": True,
        "types": "number,number,number",
        "sum": 0x7F + 0xFF,
        "port": 7,
        "time": "2024-05-17T12:00:00.000Z",
        "vars": {"a": "b"},
    }


def test_module_exports_style_codec() -> None:
    d = inline(
        "function decodeUplink(input) { return {data: {n: input.bytes.length}}; }\n"
        "module.exports = { decodeUplink: decodeUplink };\n"
    )
    assert d.decode(b"abc", 1) == {"n": 3}


# --- the JS codec of a real model's format agrees with the native decoder --------------


def _example_cases() -> list[dict[str, Any]]:
    data = yaml.safe_load(EXAMPLE_VECTORS.read_text())
    assert data["model"] == "example/thermometer"
    cases: list[dict[str, Any]] = data["cases"]
    return cases


@pytest.mark.parametrize("case", _example_cases(), ids=lambda c: str(c["description"]))
def test_js_codec_matches_native_decoder(catalog: DecoderCatalog, case: dict[str, Any]) -> None:
    payload = bytes.fromhex(case["payload"].replace(" ", ""))
    native = NATIVE.get("example/thermometer")
    js = catalog.get("example/thermometer")
    assert isinstance(js, JsCodecDecoder) and not isinstance(native, JsCodecDecoder)
    if "error" in case:
        with pytest.raises(DecodeError):
            native.decode(payload, case["f_port"])
        with pytest.raises(CodecError) as exc:
            js.decode(payload, case["f_port"])
        assert case["message"] in str(exc.value)
        return
    a = decode("example/thermometer", payload, case["f_port"])
    b = decode("example/thermometer", payload, case["f_port"], catalog=catalog)
    assert b.decoded == a.decoded == case["decoded"]
    assert b.readings == a.readings
    assert b.warnings == a.warnings


def test_load_codecs_copies_the_native_registry(catalog: DecoderCatalog) -> None:
    assert not isinstance(NATIVE.get("example/thermometer"), JsCodecDecoder)
    assert "acme/th" not in NATIVE
    for model_id in NATIVE:
        if model_id != "example/thermometer":
            assert catalog.get(model_id) is NATIVE.get(model_id)


# --- misbehaving codecs -------------------------------------------------------------


def test_throw_gives_js_message_and_line(catalog: DecoderCatalog) -> None:
    with pytest.raises(CodecError) as exc:
        decode("buggy/throws", b"\x01", 1, catalog=catalog)
    msg = str(exc.value)
    assert msg.startswith("decodeUplink threw: TypeError: Cannot read properties of undefined")
    assert msg.endswith("at line 4 of throws.js")


def test_throw_of_a_string_and_in_chirpstack_v3(catalog: DecoderCatalog) -> None:
    d = inline('function decodeUplink(i) {\n  throw "bad frame";\n}')
    with pytest.raises(CodecError, match="^decodeUplink threw: bad frame$"):
        d.decode(b"", 1)
    with pytest.raises(CodecError, match=r"Decode threw: Error: unknown port 11 at line 5"):
        catalog.get("acme/level").decode(b"\x00\x00\x00\x00", 11)


def test_endless_loop_times_out_and_codec_stays_usable(catalog: DecoderCatalog) -> None:
    t = time.perf_counter()
    with pytest.raises(CodecError, match=r"did not return within 100 ms"):
        decode("buggy/loops", b"\x01", 1, catalog=catalog)
    assert time.perf_counter() - t < 2.0
    with pytest.raises(CodecError, match=r"did not return within"):
        decode("buggy/loops", b"\x01", 1, catalog=catalog)
    assert (
        decode("acme/th", bytes.fromhex("00D7500BB8"), 1, catalog=catalog).decoded["temp"] == 21.5
    )


def test_short_custom_timeout() -> None:
    d = codec("loops.js", timeout_ms=20)
    t = time.perf_counter()
    with pytest.raises(CodecError, match=r"within 20 ms"):
        d.decode(b"\x01", 1)
    assert time.perf_counter() - t < 1.0


def test_memory_overrun_is_stopped_and_codec_recovers(catalog: DecoderCatalog) -> None:
    with pytest.raises(CodecError, match=r"exceeded the 64 MB memory limit in hog.js"):
        decode("buggy/hog", b"\x01", 2, catalog=catalog)
    # the isolate was rebuilt: the same codec decodes normally again, repeatedly
    assert decode("buggy/hog", b"\x07", 1, catalog=catalog).decoded == {"counter": 7}
    with pytest.raises(CodecError, match=r"memory limit"):
        decode("buggy/hog", b"\x01", 2, catalog=catalog)
    assert decode("buggy/hog", b"\x08", 1, catalog=catalog).decoded == {"counter": 8}


def test_errors_returned_by_codec(catalog: DecoderCatalog) -> None:
    with pytest.raises(
        CodecError, match=r"^decodeUplink returned errors: payload too short; need 3 bytes$"
    ):
        decode("buggy/errors", b"\x01", 1, catalog=catalog)
    assert decode("buggy/errors", b"\x01\x02\x03", 1, catalog=catalog).decoded == {"counter": 3}


@pytest.mark.parametrize(
    ("f_port", "fragment"),
    [
        (1, "returned a number (42), expected an object"),
        (2, "returned no data"),
        (3, "returned data that is an array"),
        (4, "not JSON (TypeError: Do not know how to serialize a BigInt)"),
        (5, "not JSON (TypeError: Converting circular structure to JSON)"),
        (6, "returned null"),
    ],
)
def test_junk_return_values(catalog: DecoderCatalog, f_port: int, fragment: str) -> None:
    with pytest.raises(CodecError) as exc:
        decode("buggy/junk", b"", f_port, catalog=catalog)
    assert fragment in str(exc.value)
    assert str(exc.value).startswith("decodeUplink ")


def test_junk_codec_good_port_still_works(catalog: DecoderCatalog) -> None:
    assert decode("buggy/junk", b"", 7, catalog=catalog).decoded == {"ok": True}


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("function Decode(p, b) { return [1]; }", "Decode returned an array, expected an object"),
        ("function Decode(p, b) { return null; }", "Decode returned null"),
        ("function Decode(p, b) { return 'x'; }", "Decode returned a string"),
    ],
)
def test_chirpstack_v3_junk(source: str, fragment: str) -> None:
    with pytest.raises(CodecError, match=fragment):
        inline(source).decode(b"\x01", 1)


def test_variables_that_are_not_json() -> None:
    d = codec("acme-th.js")
    with pytest.raises(CodecError, match="variables cannot be passed"):
        d.decode(bytes(5), 1, {"x": math.nan})


# --- state between calls, isolation, threads, asyncio ---------------------------------


def test_declared_top_level_state_is_fresh_per_call() -> None:
    d = inline(
        "var count = 0;\nlet seen = [];\n"
        "function decodeUplink(i) { count++; seen.push(i.bytes[0]);"
        " return {data: {count: count, seen: seen.length}}; }"
    )
    for b in range(3):
        assert d.decode(bytes([b]), 1) == {"count": 1, "seen": 1}


def test_implicit_globals_persist_as_documented() -> None:
    d = inline(
        "function decodeUplink(i) { globalThis.calls = (globalThis.calls || 0) + 1;"
        " return {data: {calls: globalThis.calls}}; }"
    )
    assert [d.decode(b"", 1)["calls"] for _ in range(3)] == [1, 2, 3]
    # another codec has its own isolate and does not see this one's globals
    other = inline("function decodeUplink(i) { return {data: {calls: globalThis.calls || 0}}; }")
    assert other.decode(b"", 1) == {"calls": 0}


def test_thread_safe_under_concurrent_calls(catalog: DecoderCatalog) -> None:
    errors: list[str] = []

    def work(seed: int) -> None:
        for k in range(150):
            t = (seed * 150 + k) % 1000
            payload = t.to_bytes(2, "big") + bytes([seed * 2, 0x0B, 0xB8])
            out = decode("acme/th", payload, 1, catalog=catalog).decoded
            if out["temp"] != t / 10 or out["hum"] != seed:
                errors.append(f"{seed}/{k}: {out}")

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []


def test_built_and_called_inside_a_running_event_loop() -> None:
    async def main() -> tuple[dict[str, Any], str]:
        d = codec("acme-th.js")
        ok = d.decode(bytes.fromhex("00D7500BB8"), 1, recv_time=T0)
        loops = codec("loops.js")
        try:
            loops.decode(b"\x01", 1)
        except CodecError as exc:
            return ok, str(exc)
        return ok, "no timeout"

    ok, err = asyncio.run(main())
    assert ok["temp"] == 21.5
    assert "did not return within 100 ms" in err


# --- loading: compile errors and the mapping file -------------------------------------


@pytest.mark.parametrize(
    ("source", "kw", "fragment"),
    [
        (
            "function decodeUplink(input) {\n  return {data: {}\n}",
            {},
            "inline.js: cannot be compiled: SyntaxError",
        ),
        ("function nothing() {}", {}, "defines neither decodeUplink"),
        (
            "function Decode(p, b) { return {}; }",
            {"interface": "ts013"},
            "needs a function decodeUplink",
        ),
        ("var x = null;\nx.y = 1;\nfunction decodeUplink(i) {}", {}, "top-level code failed"),
        (
            "while (true) {}\nfunction decodeUplink(i) {}",
            {"timeout_ms": 30},
            "top-level code failed",
        ),
    ],
)
def test_codec_that_cannot_load(source: str, kw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as exc:
        inline(source, **kw)
    assert fragment in str(exc.value)


def test_top_level_error_names_line() -> None:
    with pytest.raises(
        ConfigError, match=r"TypeError: Cannot set properties of null .* at line 2 of inline.js"
    ):
        inline("var x = null;\nx.y = 1;\nfunction decodeUplink(i) {}")


def _folder(tmp_path: Path, mapping: str, files: tuple[str, ...] = ("acme-th.js",)) -> Path:
    for f in files:
        shutil.copy(CODECS / f, tmp_path / f)
    (tmp_path / "codecs.yaml").write_text(mapping)
    return tmp_path


@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [
        ("codecs: {acme-th.js: {models: [acme/th], normalize: {temp: kelvin}}}", "normalize.temp"),
        ("codecs: {acme-th.js: {models: [Acme/TH]}}", "must be lowercase"),
        ("codecs: {acme-th.js: {models: []}}", "codecs.acme-th.js.models"),
        ("codecs: {acme-th.js: {models: [acme/th], colour: red}}", "colour: Extra inputs"),
        ("codecs: {acme-th.js: {models: [acme/th], interface: ts014}}", "interface"),
        ("codecs: {acme-th.js: {models: [acme/th], timeout_ms: 0}}", "timeout_ms"),
        ("codecs: {../x.js: {models: [acme/th]}}", "plain '.js' file name"),
        ("codecs: {missing.js: {models: [acme/th]}}", "no such file"),
        ("codecs: [1, 2", "not valid YAML"),
        ("nothing: here", "codecs: Field required"),
        (
            "codecs: {acme-th.js: {models: [acme/th]}, cs3-level.js: {models: [acme/th]}}",
            "mapped to both",
        ),
        ("codecs: {acme-th.js: {models: [example/thermometer]}}", "set 'override: true'"),
    ],
)
def test_bad_mapping_file(tmp_path: Path, mapping: str, fragment: str) -> None:
    folder = _folder(tmp_path, mapping, ("acme-th.js", "cs3-level.js"))
    with pytest.raises(ConfigError) as exc:
        load_codecs(folder)
    assert str(folder) in str(exc.value)
    assert fragment in str(exc.value)


def test_missing_mapping_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="codecs.yaml: not found"):
        load_codecs(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_codecs(tmp_path / "nope")


def test_mapping_shorthand_and_disabled_common_keys(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        "codecs:\n  acme-th.js:\n    models: [acme/th]\n    common_keys: false\n"
        "    normalize: {temp: temperature, hum: {quantity: relative_humidity, sensor: inside}}\n",
    )
    reg = load_codecs(folder)
    result = decode("acme/th", bytes.fromhex("00D7500BB8"), 1, catalog=reg)
    assert {(r.quantity, r.sensor, r.value) for r in result.readings} == {
        (Quantity.TEMPERATURE, "", 21.5),
        (Quantity.RELATIVE_HUMIDITY, "inside", 40.0),
    }
    assert result.warnings == ()  # battery_mv and recv_year are neither mapped nor reported


def test_stray_js_file_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _folder(
        tmp_path, "codecs: {acme-th.js: {models: [acme/th]}}", ("acme-th.js", "junk.js")
    )
    with caplog.at_level(logging.WARNING, logger="decoders.js"):
        reg = load_codecs(folder)
    assert "buggy/junk" not in reg
    assert any("junk.js is not listed in codecs.yaml" in r.getMessage() for r in caplog.records)


def test_one_timeout_is_retried_once() -> None:
    # loops on its first call only (an implicit global remembers); the retry succeeds
    d = inline(
        "function decodeUplink(i) {\n"
        "  if (!globalThis.looped) { globalThis.looped = true; while (true) {} }\n"
        "  return {data: {ok: 1}};\n}",
        timeout_ms=50,
    )
    assert d.decode(b"", 1) == {"ok": 1}


def test_decode_passes_recv_time_to_js_codecs_only(catalog: DecoderCatalog) -> None:
    js = decode("acme/th", bytes.fromhex("00D7500BB8"), 1, catalog=catalog, recv_time=T0)
    assert js.decoded["recv_year"] == 2024
    native = decode("example/thermometer", bytes.fromhex("08660BC4"), 1, recv_time=T0)
    assert native.decoded == {"temperature": 21.5, "battery_mv": 3012}
