"""The installer tools: ``lorawan-monitor decode`` and ``lorawan-monitor decoders``.

Run on every native decoder's vector file (whatever decoders exist) and on the test
JavaScript codecs; a few tests run the installed console script as a subprocess.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import decoders
from decoders import NATIVE
from decoders.quantities import CATALOGUE, Quantity
from lorawan_monitor.cli import main
from tests.decoders import Case, all_cases

ROOT = Path(__file__).parents[1]
CODECS = ROOT / "tests" / "decoders" / "js" / "codecs"
CLI = Path(sys.executable).parent / "lorawan-monitor"

CASES = all_cases()
SUCCESS = [c for c in CASES if not c.is_error]
ERRORS = [c for c in CASES if c.is_error]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def decode_args(case: Case) -> list[str]:
    args = ["decode", "--model", case.model, "--fport", str(case.f_port)]
    if case.variables:
        args += ["--variables", json.dumps(dict(case.variables))]
    return [*args, case.payload.hex()]  # "" for an empty payload


@pytest.fixture(autouse=True)
def _no_codecs_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LORAWAN_INGEST__CODECS_DIR", raising=False)
    monkeypatch.delenv("LORAWAN_CONFIG_FILE", raising=False)


# --- decode: every native vector ------------------------------------------------------


def test_vectors_exist() -> None:
    assert {c.model for c in CASES} >= {"example/thermometer"}


@pytest.mark.parametrize("case", SUCCESS, ids=[c.id for c in SUCCESS])
def test_decode_success_cases(capsys: pytest.CaptureFixture[str], case: Case) -> None:
    code, out, _ = run(capsys, *decode_args(case))
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"model", "f_port", "decoded", "readings", "warnings", "error", "error_type"}
    assert doc["model"] == case.model and doc["f_port"] == case.f_port
    assert doc["error"] is None and doc["error_type"] is None
    lib = decoders.decode(case.model, case.payload, case.f_port, case.variables)
    assert doc["decoded"] == json.loads(json.dumps(lib.decoded, default=str))
    expected = sorted(
        (r["quantity"], str(r.get("sensor", "")), float(r["value"]))
        for r in case.raw["readings"] or []
    )
    got = sorted((r["quantity"], r["sensor"], r["value"]) for r in doc["readings"])
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert math.isclose(g[2], e[2], rel_tol=1e-9, abs_tol=1e-12)
    for r in doc["readings"]:
        assert r["unit"] == CATALOGUE[Quantity(r["quantity"])].unit
    assert len(doc["warnings"]) == len(case.raw.get("warnings") or [])


@pytest.mark.parametrize("case", ERRORS, ids=[c.id for c in ERRORS])
def test_decode_error_cases(capsys: pytest.CaptureFixture[str], case: Case) -> None:
    code, out, _ = run(capsys, *decode_args(case))
    assert code == 1
    doc = json.loads(out)
    assert doc["error_type"] == case.raw["error"]
    assert str(case.raw.get("message", "")) in doc["error"]
    assert doc["decoded"] is None and doc["readings"] == [] and doc["warnings"] == []


def test_hex_with_spaces_colons_and_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    outs = []
    for payload in (["08", "66", "0B", "C4"], ["08:66:0b:c4"], ["0x08660BC4"], ["08 66 0B C4"]):
        code, out, _ = run(
            capsys, "decode", "--model", "example/thermometer", "--fport", "1", *payload
        )
        assert code == 0
        outs.append(json.loads(out)["decoded"])
    assert outs == [{"temperature": 21.5, "battery_mv": 3012}] * 4


def test_base64_payload(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "decode", "--model", "example/thermometer", "--fport", "1", "--base64", "CGYLxA=="
    )
    assert code == 0 and json.loads(out)["decoded"] == {"temperature": 21.5, "battery_mv": 3012}


# --- decode: bad usage -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--fport", "1", "08660"], "odd number of hex digits"),
        (["--fport", "1", "08zz"], "not hex"),
        (["--fport", "1", "--base64", "%%%"], "not valid base64"),
        (["--fport", "1", "--variables", "{oops", "0866"], "--variables is not valid JSON"),
        (["--fport", "1", "--variables", "[1]", "0866"], "must be a JSON object"),
        (["--fport", "300", "0866"], "--fport must be 0..255"),
        (["--fport", "1", "--recv-time", "yesterday", "0866"], "--recv-time"),
    ],
)
def test_bad_usage_exits_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    code, out, err = run(capsys, "decode", "--model", "example/thermometer", *argv)
    assert code == 2
    assert out == ""
    assert fragment in err


def test_unknown_model_lists_closest(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "decode", "--model", "example/thermometr", "--fport", "1", "0866")
    assert code == 2 and out == ""
    assert "unknown model 'example/thermometr'" in err
    assert "closest known: example/thermometer" in err


# --- decode: JavaScript codecs -------------------------------------------------------------


def test_decode_with_js_codec(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "decode",
        "--model",
        "acme/level",
        "--fport",
        "10",
        "--codecs",
        str(CODECS),
        "--variables",
        '{"mount_height_mm": 2000}',
        "04D20E10",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["decoded"] == {"distance_mm": 1234, "level_mm": 766, "batV": 3.6}
    by_q = {r["quantity"]: r for r in doc["readings"]}
    assert by_q["water_level"]["unit"] == "m"
    assert math.isclose(by_q["water_level"]["value"], 0.766)


def test_decode_js_recv_time_and_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["decode", "--model", "acme/th", "--fport", "1", "--codecs", str(CODECS)]
    code, out, _ = run(capsys, *args, "--recv-time", "2019-03-01T10:00:00+00:00", "00D75009B0")
    assert code == 0
    doc = json.loads(out)
    assert doc["decoded"]["recv_year"] == 2019
    assert "codec: battery low" in doc["warnings"]


@pytest.mark.parametrize(
    ("model", "fport", "fragment"),
    [
        ("buggy/throws", "1", "at line 4 of throws.js"),
        ("buggy/loops", "1", "did not return within 100 ms"),
        ("buggy/errors", "1", "decodeUplink returned errors: payload too short"),
        ("buggy/junk", "1", "expected an object"),
    ],
)
def test_decode_js_codec_failure_exits_1(
    capsys: pytest.CaptureFixture[str], model: str, fport: str, fragment: str
) -> None:
    code, out, _ = run(
        capsys, "decode", "--model", model, "--fport", fport, "--codecs", str(CODECS), "01"
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["error_type"] == "CodecError"
    assert fragment in doc["error"]


def test_bad_codecs_folder_is_a_configuration_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(
        capsys, "decode", "--model", "acme/th", "--fport", "1", "--codecs", str(tmp_path), "00"
    )
    assert code == 2 and out == ""
    assert "codecs.yaml: not found" in err


# --- decoders listing ------------------------------------------------------------------------


def test_decoders_json_lists_every_native_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decoders", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["id"] for r in rows] == list(NATIVE)
    for r in rows:
        assert set(r) == {
            "id",
            "vendor",
            "model",
            "category",
            "ports",
            "quantities",
            "kind",
            "description",
        }
        assert r["kind"] == "native"
        assert all(q in {x.value for x in Quantity} for q in r["quantities"])
    example = next(r for r in rows if r["id"] == "example/thermometer")
    assert example["ports"] == [1]
    assert example["quantities"] == ["battery_voltage", "temperature"]


def test_decoders_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decoders")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["MODEL", "ID"]
    models = [line for line in lines[1:] if not line.startswith(" ")]
    assert len(models) == len(list(NATIVE))
    assert sorted(line.split()[0] for line in models) == list(NATIVE)
    assert max(len(line) for line in lines) <= 100  # a narrow terminal (#14)
    assert "    Dragino LHT65: " in out  # name and quantities on the indented line


def test_decoders_with_js_codecs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decoders", "--json", "--codecs", str(CODECS))
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows["acme/th"]["kind"] == "javascript"
    assert rows["acme/th"]["vendor"] == "Acme"
    assert rows["acme/level"]["quantities"] == ["distance", "water_level"]
    assert rows["example/thermometer"]["kind"] == "javascript"  # override: true
    assert set(NATIVE) <= set(rows)


# --- the real console script -------------------------------------------------------------------


def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
    full_env.update(env or {})
    return subprocess.run(
        [str(CLI), *argv], capture_output=True, text=True, timeout=60, env=full_env, check=False
    )


def test_console_script_decode_exit_codes() -> None:
    ok = _cli("decode", "--model", "example/thermometer", "--fport", "1", "08660BC4")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["readings"][0] == {
        "quantity": "temperature",
        "value": 21.5,
        "unit": "°C",
        "sensor": "",
    }
    bad = _cli("decode", "--model", "example/thermometer", "--fport", "1", "0866")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["error"] == "example/thermometer expects 4 bytes on port 1, got 2"
    usage = _cli("decode", "--model", "nope/nothing", "--fport", "1", "0866")
    assert usage.returncode == 2 and "unknown model" in usage.stderr


def test_console_script_reads_codecs_dir_from_environment() -> None:
    env = {"LORAWAN_INGEST__CODECS_DIR": str(CODECS)}
    proc = _cli("decode", "--model", "acme/th", "--fport", "2", "01", env=env)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["decoded"] == {"status": "probe_error"}
    listing = _cli("decoders", env=env)
    assert listing.returncode == 0
    assert any(
        line.startswith("acme/th ") and line.endswith("javascript")
        for line in listing.stdout.splitlines()
    )
