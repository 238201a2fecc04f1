"""Unknown LORAWAN_* variables: found from the settings models, reported with the closest
valid name (issue #14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pydantic import BaseModel

from lorawan_monitor import envcheck
from lorawan_monitor.settings import Settings


def test_every_field_of_the_models_is_a_valid_name() -> None:
    exact, _ = envcheck.valid_names()
    for name in ("LORAWAN_MQTT__HOST", "LORAWAN_INFLUX__URL", "LORAWAN_MQTT",
                 "LORAWAN_INGEST__SUMMARY_INTERVAL", "LORAWAN_OPENDATA__PUBLISHER_NAME",
                 "LORAWAN_CONFIG_FILE", "LORAWAN_IMAGE_TAG"):  # fmt: skip
        assert name in exact, name
    assert envcheck.unknown_variables(dict.fromkeys(exact, "x")) == []


def test_names_come_from_the_model_not_a_list() -> None:
    """A field added to a nested model is valid at once (no list to keep up to date)."""

    class Extra(BaseModel):
        new_field: int = 1
        labels: dict[str, str] = {}

    class Wider(BaseModel):
        extra: Extra | None = None

    names = dict(envcheck.setting_names(Wider, "LORAWAN_"))
    assert names == {
        "LORAWAN_EXTRA": False,
        "LORAWAN_EXTRA__NEW_FIELD": False,
        "LORAWAN_EXTRA__LABELS": True,  # LORAWAN_EXTRA__LABELS__<key> is valid too
    }
    assert set(Settings.model_fields) <= {
        n.removeprefix("LORAWAN_").lower() for n, _ in envcheck.setting_names(Settings, "LORAWAN_")
    }


def test_misspelt_names_get_the_closest_valid_one() -> None:
    env = {
        "LORAWAN_INFLUXDB__URL": "http://x:8086",
        "lorawan_mqtt__hots": "broker",  # the environment is read case-insensitively
        "LORAWAN_COMPLETELY_ELSE": "1",
        "PATH": "/usr/bin",
        "LORAWAN_MQTT__HOST": "fine",
    }
    assert envcheck.unknown_variables(env) == [
        "LORAWAN_COMPLETELY_ELSE is not a setting — see .env.example or "
        "`lorawan-monitor settings` for the valid names",
        "LORAWAN_INFLUXDB__URL is not a setting — did you mean LORAWAN_INFLUX__URL?",
        "lorawan_mqtt__hots is not a setting — did you mean LORAWAN_MQTT__HOST?",
    ]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "lorawan_monitor.cli", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_command_shows_the_opendata_block_and_refuses_typos() -> None:
    ok = _cli("settings", LORAWAN_OPENDATA__PUBLISHER_NAME="Amt Föhr-Amrum")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["opendata"]["publisher_name"] == "Amt Föhr-Amrum"
    bad = _cli("settings", LORAWAN_OPENDATA__PUBLISHER="Amt")
    assert bad.returncode == 2
    assert "LORAWAN_OPENDATA__PUBLISHER is not a setting — did you mean" in bad.stderr
