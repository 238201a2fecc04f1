"""Devices files as people write them (issue #14): German Excel CSV, a model without a
decoder, a YAML row that is not a mapping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from decoders.catalog import NATIVE
from lorawan_monitor.errors import ConfigError
from storage.devices_file import load_devices_file, unknown_models

#: what "CSV (Trennzeichen-getrennt)" in a German Excel writes: ';', decimal commas,
#: ja/nein, Windows-1252 (the 'ü' of Hafenstraße/Süd is one byte)
EXCEL = (
    "dev_eui;name;model;category;site;latitude;longitude;expected_interval;public\r\n"
    "A84041000181C8E1;Klima Süd;dragino/lht65;environment;Hafenstraße;54,6912;8,5703;15m;ja\r\n"
    "A84041000181C8E2;Parkplatz 1;;traffic;Hafen;54,7;8,57;;nein\r\n"
)


def test_german_excel_csv_is_read(tmp_path: Path) -> None:
    f = tmp_path / "geraete.csv"
    f.write_bytes(EXCEL.encode("cp1252"))
    (k1, m1), (k2, m2) = load_devices_file(f)
    assert k1 == "A84041000181C8E1" and m1.name == "Klima Süd" and m1.site == "Hafenstraße"
    assert (m1.latitude, m1.longitude, m1.public) == (54.6912, 8.5703, True)
    assert m1.expected_interval_s == 900
    assert (m2.latitude, m2.public) == (54.7, False)


def test_a_model_without_decoder_is_reported_with_the_closest(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text("- dev_eui: A84041000181C8E1\n  model: dragino/lht66\n", encoding="utf-8")
    entries = load_devices_file(f)
    (msg,) = unknown_models(entries, NATIVE, name="d.yaml")
    assert "device A84041000181C8E1: no decoder for model 'dragino/lht66'" in msg
    assert "did you mean 'dragino/lht65" in msg
    f.write_text("- dev_eui: A84041000181C8E1\n  model: dragino/lht65\n", encoding="utf-8")
    assert unknown_models(load_devices_file(f), NATIVE, name="d.yaml") == []


def test_a_yaml_row_that_is_not_a_device_says_so(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text("- dev_eui: A84041000181C8E1\n- A84041000181C8E2 dragino/lht65\n")
    with pytest.raises(ConfigError) as info:
        load_devices_file(f)
    msg = str(info.value)
    assert "line 2: expected a device with fields (dev_eui: …, model: …)" in msg
    assert "instance of" not in msg and "DeviceRow" not in msg


def test_devices_import_dry_run_reports_the_unknown_model(tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("dev_eui;model\nA84041000181C8E1;acme/nothing\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
    env["LORAWAN_STORAGE__DATA_DIR"] = str(tmp_path / "data")
    r = subprocess.run(
        [sys.executable, "-m", "lorawan_monitor.cli", "devices", "import", str(f), "--dry-run"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning:" in r.stderr and "no decoder for model 'acme/nothing'" in r.stderr
    assert "all valid" not in r.stdout
    assert "1 devices, 1 with a model that has no decoder" in r.stdout
