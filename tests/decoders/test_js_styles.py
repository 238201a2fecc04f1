"""Vendor-codec styles that run on The Things Stack / ChirpStack run here too (#13).

The codecs are ours (the project may not copy vendor code), written in the styles real
vendor codecs use; each implements a real vendor payload format and is checked against
that vendor's published example (the vector files of our native decoders, which name
their source: TTN Device Repository codec YAML examples):

* ES5 with implicit globals   -> Milesight EM300-TH, vendor/milesight-iot/em300-th-codec.yaml
* compiled TypeScript         -> Elsys, vendor/elsys/ers-co2-codec.yaml
  (``module.exports = codec`` before ``codec`` has a value, an IIFE class)
* arrow functions, ES2015+    -> Dragino LHT65, vendor/dragino/lht65-codec.yaml
* ChirpStack v3 ``Decode``    -> Nwave NPS405, vendor/nwave/nps405-codec.yaml
* a large file (> 40 KB, TTS's limit for pasted formatters) -> Parametric PCR2,
  every example of vendor/parametric/pcr2-codec.yaml (pcr2.js, commit 886ed1a)
* a table of sensor definitions with ``convert`` functions -> Decentlab DL-MBX,
  vendor/decentlab/dl-mbx-codec.yaml (examples 1 and 2)
* typed arrays / DataView / reduce -> Terabee People Flow Counting L/XL,
  vendor/terabee/people-flow-counting-l-xl-codec.yaml
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from decoders import NATIVE, decode
from decoders.errors import CodecError, CodecUnavailableError
from decoders.js import BrokenCodec, JsCodecDecoder, disabled_codecs, load_codecs
from lorawan_monitor.errors import ConfigError

HERE = Path(__file__).parent
STYLES = HERE / "js" / "styles"
VENDORS = HERE.parents[1] / "decoders" / "vendors"
ELSYS_TS = HERE / "device_repository" / "vendor" / "elsys" / "elsys.js"


def _vendor_cases(path: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((VENDORS / path).read_text(encoding="utf-8"))
    return [c for c in data["cases"] if "decoded" in c]


def _load(path: Path, **kw: Any) -> JsCodecDecoder:
    return JsCodecDecoder.from_source(path.read_text(encoding="utf-8"), filename=path.name, **kw)


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, text in enumerate(lines, 1) if needle in text)


@pytest.mark.parametrize(
    ("codec", "vectors", "description"),
    [
        (
            STYLES / "es5-implicit-globals.js",
            "milesight/testdata/em300_th.yaml",
            'TTN repo example "battery, temperature, and humidity"',
        ),
        (
            ELSYS_TS,
            "elsys/testdata/ers_co2.yaml",
            'TTN repo example "temperature, humidity, light, motion and co2"',
        ),
        (
            STYLES / "arrow-functions.js",
            "dragino/testdata/lht65.yaml",
            'TTN repo example "Temperature" (internal SHT20 + DS18B20 probe)',
        ),
        (STYLES / "chirpstack-v3.js", "nwave/testdata/nps405fm.yaml", "Parking Status"),
        (
            STYLES / "sensor-table.js",
            "decentlab/testdata/dl_mbx.yaml",
            "TTN repo Example 1 (distance + battery)",
        ),
        (
            STYLES / "sensor-table.js",
            "decentlab/testdata/dl_mbx.yaml",
            "TTN repo Example 2 (battery only)",
        ),
        (
            STYLES / "dataview.js",
            "terabee/testdata/people_flow_counting_l_xl.yaml",
            "Counting data uplink",
        ),
        (
            STYLES / "dataview.js",
            "terabee/testdata/people_flow_counting_l_xl.yaml",
            "Counting data uplink with specific flags",
        ),
    ],
    ids=[
        "es5-implicit-globals",
        "compiled-typescript",
        "arrow-functions",
        "chirpstack-v3",
        "sensor-table-1",
        "sensor-table-2",
        "dataview-1",
        "dataview-2",
    ],
)
def test_style_decodes_the_vendor_example(codec: Path, vectors: str, description: str) -> None:
    case = next(c for c in _vendor_cases(vectors) if c["description"] == description)
    d = _load(codec)
    got = d.decode(bytes.fromhex(case["payload"].replace(" ", "")), case["f_port"])
    assert dict(got) == case["decoded"]


def test_compiled_typescript_gets_no_module_object() -> None:
    """As on TTS: ``typeof module`` is "undefined", so the early export is skipped."""
    d = JsCodecDecoder.from_source(
        "var seen = typeof module + '/' + typeof exports;\n"
        "if (typeof module !== 'undefined') { module.exports = codec; }\n"
        "var codec = {};\n"
        "function decodeUplink(input) { return {data: {seen: seen}}; }\n",
        filename="ts.js",
    )
    assert d.decode(b"", 1) == {"seen": "undefined/undefined"}


@pytest.mark.parametrize(
    "tail",
    [
        "module.exports = { decodeUplink: decodeUplink };",
        "exports.decodeUplink = decodeUplink;",
        "module.exports = undefined; module.exports = { decodeUplink: decodeUplink };",
    ],
)
def test_commonjs_codecs_still_work(tail: str) -> None:
    d = JsCodecDecoder.from_source(
        f"function decodeUplink(input) {{ return {{data: {{n: input.bytes.length}}}}; }}\n{tail}\n",
        filename="cjs.js",
    )
    assert d.decode(b"abc", 1) == {"n": 3}


def test_function_only_in_module_exports() -> None:
    d = JsCodecDecoder.from_source(
        "module.exports = { decodeUplink: function (i) { return {data: {ok: true}}; } };\n",
        filename="only-exports.js",
    )
    assert d.decode(b"", 1) == {"ok": True}


def test_module_exports_set_to_junk_is_no_crash() -> None:
    with pytest.raises(ConfigError, match="defines neither decodeUplink"):
        JsCodecDecoder.from_source("module.exports = 42;\n", filename="junk-exports.js")


def test_throw_names_the_codecs_own_line() -> None:
    d = _load(ELSYS_TS)
    line = _line_of(ELSYS_TS, 'throw new Error("unknown type')
    with pytest.raises(CodecError, match=rf"unknown type 0x63 at line {line} of elsys\.js$"):
        d.decode(b"\x63\x00", 1)


def test_no_line_beyond_the_file_is_ever_blamed() -> None:
    """A codec whose module.exports is junk used to fail in the wrapper's own line."""
    source = "\n".join(["// filler"] * 30) + "\nfunction decodeUplink(i) { return null; }\n"
    d = JsCodecDecoder.from_source(source, filename="short.js")
    with pytest.raises(CodecError) as exc:
        d.decode(b"", 1)
    assert "line" not in str(exc.value)
    assert "decodeUplink returned null" in str(exc.value)


# --- a large file --------------------------------------------------------------------

_PCR2_CORE = """
// Written for lorawan-monitor's tests (not vendor code): the Parametric PCR2 frames as
// the vendor's pcr2.js decodes them (port 14: Elsys-style TLV and extended V3/V4;
// port 190: configuration V2..V5, key names per version).
function u16(b, i) { return (b[i] << 8) | b[i + 1]; }
function temp(b, i) { var v = u16(b, i); if (v & 0x8000) { v -= 0x10000; } return Math.floor(v / 10); }
function ver(b, i) { return b[i] + "." + b[i + 1] + "." + b[i + 2]; }
function app(b) {
  var o = {}, i;
  if (b[0] === 0x0a) {
    for (i = 0; i < b.length; i += 3) {
      if (b[i] === 0x01) { o.TEMP = temp(b, i + 1); }
      else if (b[i] === 0x0a) { o.LTR = u16(b, i + 1); }
      else if (b[i] === 0x16) { o.RTL = u16(b, i + 1); }
      else { break; }
    }
    return o;
  }
  var v4 = b[2] === 0x04;
  o.LTR = u16(b, 3); o.RTL = u16(b, 5); o.LTR_SUM = u16(b, 7); o.RTL_SUM = u16(b, 9);
  o.SBX_BATT = v4 ? u16(b, 11) : b[11];
  o.SBX_PV = v4 ? u16(b, 13) : u16(b, 12);
  o.DIFF = Math.abs(o.LTR_SUM - o.RTL_SUM);
  o.TEMP = temp(b, v4 ? 15 : 14);
  return o;
}
function config(b) {
  var o = {};
  if (b.length === 14) {
    o.DeviceType = b[0]; o.FirmwareVersion = ver(b, 1); o.OperatingMode = b[4];
    o.PayloadType = b[5]; o.UplinkType = b[6]; o.UplinkInterval = u16(b, 7);
    o.LinkCheckInterval = u16(b, 9); o.HoldoffTime = u16(b, 11); o.RadarSensitivity = b[13];
    return o;
  }
  var v = b[2];
  o.DeviceType = b[3];
  o[v < 5 ? "FirmwareVersion" : "Firmware"] = ver(b, 4);
  o[v < 5 ? "OperatingMode" : "OperationMode"] = b[7];
  o.PayloadType = b[8]; o.DeviceClass = b[9]; o.UplinkType = b[10];
  o.UplinkInterval = u16(b, 11); o.LinkCheckInterval = u16(b, 13);
  o.CapacityLimit = u16(b, 15); o.HoldoffTime = u16(b, 17);
  if (v === 3) { o.RadarSensitivity = b[19]; return o; }
  o.InactivityTimeout = u16(b, 19);
  if (v === 4) {
    o.MountingDirection = b[21]; o.MountingTilt = b[22]; o.DetectionAngle = b[23];
    o.MinDist = u16(b, 24); o.MaxDist = u16(b, 26); o.MinSpeed = b[28]; o.MaxSpeed = b[29];
    o.RadarSensitivity = b[30];
    return o;
  }
  o.RadarEnabled = b[21]; o.BeamAngle = b[22]; o.MinDist = u16(b, 23); o.MaxDist = u16(b, 25);
  o.MinSpeed = b[27]; o.MaxSpeed = b[28]; o.RadarAutotune = b[29]; o.RadarSensitivity = b[30];
  o.SBXVersion = ver(b, 31);
  return o;
}
function decodeUplink(input) {
  if (CHECK_TABLE.length !== 4096) { throw new Error("table lost"); }
  if (input.fPort === 190) { return {data: config(input.bytes)}; }
  if (input.fPort !== 14) { throw new Error("PCR2 uses port 14 and 190, not " + input.fPort); }
  return {data: app(input.bytes)};
}
"""


def _large_codec(tmp_path: Path) -> Path:
    """The PCR2 codec with a 4096-entry table and bundle-style comments: > 60 KB."""
    rows = ",\n".join(
        "  " + ", ".join(f"0x{(r * 16 + c) * 2654435761 % 2**32:08x}" for c in range(16))
        for r in range(256)
    )
    head = "\n".join(f"// bundled module {n}: generated by a build tool" for n in range(200))
    path = tmp_path / "pcr2-large.js"
    path.write_text(f"{head}\nvar CHECK_TABLE = [\n{rows}\n];\n{_PCR2_CORE}", encoding="utf-8")
    return path


PCR2_EXAMPLES = {
    "ELSYS Application Payload",
    "ELSYS Application Payload 2",
    "Extended Application Payload V3",
    "PCR2 Application Payload V4",
    "Config Payload V2",
    "Config Payload V3",
    "Config Payload V4",
    "Config Payload V5",
    "Config",
}


def test_large_file_decodes_every_vendor_example(tmp_path: Path) -> None:
    path = _large_codec(tmp_path)
    assert path.stat().st_size > 40_960
    d = _load(path)
    cases = [
        c
        for c in _vendor_cases("parametric/testdata/pcr2.yaml")
        if c["description"] in PCR2_EXAMPLES
    ]
    assert {c["description"] for c in cases} == PCR2_EXAMPLES
    for case in cases:
        got = d.decode(bytes.fromhex(case["payload"].replace(" ", "")), case["f_port"])
        assert dict(got) == case["decoded"], case["description"]
        # and the native decoder agrees key for key
        assert decode(
            "parametric/pcr2", bytes.fromhex(case["payload"].replace(" ", "")), case["f_port"]
        ).decoded == dict(got)
    line = _line_of(path, "PCR2 uses port 14 and 190")
    assert line > 450
    with pytest.raises(CodecError, match=rf"not 5 at line {line} of pcr2-large\.js$"):
        d.decode(b"\x0a", 5)


# --- one broken codec disables that codec only ---------------------------------------


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "good.js").write_text(
        "function decodeUplink(i) { return {data: {temperature: i.bytes[0]}}; }\n"
    )
    (tmp_path / "broken.js").write_text("function decodeUplink(i) {\n  return {data: {}\n}\n")
    (tmp_path / "codecs.yaml").write_text(
        "codecs:\n  good.js: {models: [acme/good]}\n  broken.js: {models: [acme/broken, acme/broken2]}\n"
    )
    return tmp_path


def test_a_broken_codec_disables_only_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="decoders.js"):
        reg = load_codecs(_folder(tmp_path))
    assert decode("acme/good", b"\x15", 1, catalog=reg).decoded == {"temperature": 21}
    assert isinstance(reg.get("acme/broken"), BrokenCodec)
    with pytest.raises(CodecUnavailableError, match="broken.js: cannot be compiled: SyntaxError"):
        decode("acme/broken", b"\x15", 1, catalog=reg)
    assert set(disabled_codecs(reg)) == {"acme/broken", "acme/broken2"}
    (record,) = [r for r in caplog.records if "CODEC DISABLED" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert "acme/broken, acme/broken2" in record.getMessage()
    assert "LORAWAN_INGEST__CODECS_STRICT" in record.getMessage()
    assert "acme/good" in reg and "dragino/lht65" in reg and NATIVE is not reg


def test_strict_setting_refuses_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"broken\.js: cannot be compiled.*CODECS_STRICT"):
        load_codecs(_folder(tmp_path), strict=True)
