"""``lorawan-monitor decoders --repository`` and ``decode --model`` for repository models
(#13), on the fixture repository tests/decoders/device_repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorawan_monitor.cli import main

FIXTURE = Path(__file__).parent / "decoders" / "device_repository"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_decoders_lists_what_resolves(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decoders", "--json", "--repository", str(FIXTURE))
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows["elsys/ers"]["kind"] == "repository"
    assert (
        "elsys.js (codec elsys-codec, firmware 1.0, EU863-870)" in rows["elsys/ers"]["description"]
    )
    assert rows["elsys/ers-co2"]["kind"] == "native"  # the native decoder wins
    assert rows["acme/multi"]["kind"] == "repository"
    assert rows["nocodec/plain"]["kind"] == "repository (no codec)"
    assert rows["broken/no-js"]["kind"] == "repository (unresolved)"
    assert "missing.js does not exist" in rows["broken/no-js"]["description"]
    # a codec that does not compile is only found when it is loaded (lazily)
    assert rows["broken/syntax"]["kind"] == "repository"


def test_decoders_table_shows_the_note(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decoders", "--repository", str(FIXTURE))
    assert code == 0
    lines = out.splitlines()
    i = next(n for n, x in enumerate(lines) if x.startswith("broken/bad-yaml"))
    assert "repository (unresolved)" in lines[i]
    # the note follows on the model's indented lines (the table fits 100 columns)
    block = []
    for x in lines[i + 1 :]:
        if not x.startswith(" "):
            break
        block.append(x)
    assert "cannot be read as YAML" in " ".join(" ".join(block).split())


def test_decode_any_repository_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "decode",
        "--repository",
        str(FIXTURE),
        "--model",
        "elsys/ers",
        "--fport",
        "1",
        "01 00E2 02 29 04 0027 05 06 06 0308",
    )
    assert code == 0
    result = json.loads(out)
    assert result["decoded"] == {
        "temperature": 22.6,
        "humidity": 41,
        "light": 39,
        "motion": 6,
        "co2": 776,
    }
    assert result["normalized"] == [
        {
            "air": {"temperature": 22.6, "relativeHumidity": 41, "lightIntensity": 39, "co2": 776},
            "action": {"motion": {"count": 6}},
        }
    ]
    assert {r["quantity"] for r in result["readings"]} == {
        "temperature",
        "relative_humidity",
        "illuminance",
        "co2",
        "motion",
    }


def test_decode_firmware_option(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("decode", "--repository", str(FIXTURE), "--model", "acme/multi", "--fport", "1", "012C")
    _, out1, _ = run(capsys, *args, "--firmware", "1.0")
    _, out2, _ = run(capsys, *args)
    assert json.loads(out1)["decoded"]["codec"] == "v1"
    assert json.loads(out2)["decoded"]["codec"] == "v2"


def test_decode_broken_repository_codec_is_a_decode_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys,
        "decode",
        "--repository",
        str(FIXTURE),
        "--model",
        "broken/syntax",
        "--fport",
        "1",
        "01",
    )
    assert code == 1
    result = json.loads(out)
    assert result["error_type"] == "CodecUnavailableError"
    assert "SyntaxError" in result["error"]


def test_unknown_model_suggests_repository_models(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "decode", "--repository", str(FIXTURE), "--model", "acme/mult", "--fport", "1", "01"
    )
    assert code == 2
    assert "acme/multi" in err
