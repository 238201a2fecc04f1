"""The JavaScript harness is package data (decoders/js/harness.js), not a Python string:
read with importlib.resources, and shipped in the wheel (#12)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

from decoders.js.engine import HARNESS_URL, harness

ROOT = Path(__file__).resolve().parents[2]


def test_the_harness_is_read_as_package_data_and_defines_what_the_engine_calls() -> None:
    text = harness()
    for name in ("__lm_detect", "__lm_run", "__lm_pick", "__lm_cjs"):
        assert f"var {name} =" in text, name
    assert HARNESS_URL not in text  # the engine appends its sourceURL


def test_the_wheel_ships_the_harness(tmp_path: Path) -> None:
    subprocess.run(
        ["python3", "-m", "uv", "build", "--wheel", "--offline", "-q", "-o", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert z.read("decoders/js/harness.js").decode("utf-8") == harness()
