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


# -- #12: settings validated by type -----------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"api": {"api_keys": ["changethis"]}}, "LORAWAN_API__API_KEYS[0]"),
        ({"tts": {"api_key": "changeme"}}, "LORAWAN_TTS__API_KEY"),
        ({"mqtt": {"password": "changethis"}}, "LORAWAN_MQTT__PASSWORD"),
    ],
)
def test_every_secret_is_checked_for_placeholders_in_production(
    overrides: dict[str, object], name: str
) -> None:
    with pytest.raises(ConfigError, match=name.replace("[", r"\[").replace("]", r"\]")):
        load_settings(environment="production", **overrides)
    load_settings(environment="development", **overrides)  # allowed while developing


def test_tls_insecure_is_refused_in_production() -> None:
    with pytest.raises(ConfigError, match="LORAWAN_MQTT__TLS_INSECURE"):
        load_settings(environment="production", mqtt={"tls": True, "tls_insecure": True})


def test_a_rejected_secret_value_is_never_echoed() -> None:
    """Masked by type (SecretStr), not by matching names: api keys are secrets too."""
    with pytest.raises(ConfigError) as info:
        load_settings(api={"api_keys": [12345678901234567890]})
    assert "LORAWAN_API__API_KEYS" in str(info.value)
    assert "12345678901234567890" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_settings(mqtt={"port": 99999})
    assert "99999" in str(info.value)  # a plain setting is shown, so the user sees the typo


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://influx:8086/", True),
        ("https://influx.example.org", True),
        ("http://", False),
        ("ftp://influx:8086", False),
        ("influx:8086", False),
        ("http://in flux:8086", False),
    ],
)
def test_urls_are_validated_as_urls(url: str, ok: bool) -> None:
    for overrides, name in (
        ({"influx": {"url": url}}, "LORAWAN_INFLUX__URL"),
        ({"tts": {"api_url": url}}, "LORAWAN_TTS__API_URL"),
    ):
        if ok:
            s = load_settings(**overrides)
            got = s.influx.url if "influx" in overrides else s.tts.api_url
            assert got == url.rstrip("/")
        else:
            with pytest.raises(ConfigError, match=name):
                load_settings(**overrides)


def test_reconnect_delays_are_whole_seconds_not_silently_rounded() -> None:
    with pytest.raises(ConfigError, match="LORAWAN_MQTT__RECONNECT_MIN_DELAY"):
        load_settings(mqtt={"reconnect_min_delay": 0.5})
    with pytest.raises(ConfigError, match="RECONNECT_MAX_DELAY"):
        load_settings(mqtt={"reconnect_min_delay": 30, "reconnect_max_delay": 10})
    assert load_settings(mqtt={"reconnect_min_delay": "2"}).mqtt.reconnect_min_delay == 2


@pytest.mark.parametrize("kind", ["tts", "chirpstack", "chirpstack-v3"])
def test_default_topics_are_the_ones_the_parsers_recognise(kind: str) -> None:
    """One source of truth for topics: every default filter of a kind, filled in, is a
    topic that the envelope detection assigns to that kind."""
    from ingest.envelopes import detect
    from lorawan_monitor.settings import DEFAULT_TOPICS

    app = {"tts": "app", "chirpstack": "0b9b6a2e-6f5c-4c4b-9d36-3f6c2b1d7e10", "chirpstack-v3": "7"}
    for pattern in DEFAULT_TOPICS[kind]:
        parts = pattern.split("/")
        filled = [
            app[kind] if i == 1 and p == "+" else ("x" if p == "+" else p)
            for i, p in enumerate(parts)
        ]
        topic = "/".join(filled)
        assert detect(topic, b"{}") == kind, topic
    for pattern in DEFAULT_TOPICS["auto"]:
        assert any(pattern in DEFAULT_TOPICS[k] for k in ("tts", "chirpstack", "chirpstack-v3"))
