"""Bad settings stop the service at start with a message naming the setting."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lorawan_monitor.errors import ConfigError
from lorawan_monitor.settings import load_settings


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "lorawan_monitor.cli", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_port_exits_2_naming_the_variable() -> None:
    r = _run({"LORAWAN_MQTT__PORT": "eighty"}, "settings")
    assert r.returncode == 2
    assert "LORAWAN_MQTT__PORT" in r.stderr and "integer" in r.stderr


def test_bad_influx_url_is_named() -> None:
    r = _run({"LORAWAN_INFLUX__URL": "localhost:8086"}, "ingest")
    assert r.returncode == 2
    assert "LORAWAN_INFLUX__URL" in r.stderr and "http://" in r.stderr


def test_config_file_and_env_precedence(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "c.yaml"  # type: ignore[operator]
    cfg.write_text("mqtt:\n  host: broker.example\n  port: 8883\n")
    monkeypatch.setenv("LORAWAN_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("LORAWAN_MQTT__PORT", "1884")
    s = load_settings()
    assert s.mqtt.host == "broker.example" and s.mqtt.port == 1884


def test_placeholder_secret_rejected_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORAWAN_ENVIRONMENT", "production")
    monkeypatch.setenv("LORAWAN_INFLUX__TOKEN", "changethis")
    with pytest.raises(ConfigError, match="LORAWAN_INFLUX__TOKEN"):
        load_settings()


def test_shared_subscription_topics() -> None:
    s = load_settings(mqtt={"envelope": "chirpstack", "share_group": "workers"})
    assert s.mqtt.topic_filters() == ["$share/workers/application/+/device/+/event/+"]
    assert s.mqtt.protocol_version() == 5
    assert load_settings(mqtt={"envelope": "tts"}).mqtt.protocol_version() == 4
