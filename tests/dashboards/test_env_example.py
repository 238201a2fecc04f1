""".env.example is generated from Settings + the compose variables and kept in step."""

from __future__ import annotations

import os
import re
from typing import Literal

import pytest
from pydantic import BaseModel

from dashboards import env_example
from lorawan_monitor.settings import Settings, load_settings

TEXT = env_example.ENV_EXAMPLE.read_text(encoding="utf-8")


def test_env_example_is_in_step_with_settings_and_compose() -> None:
    assert TEXT == env_example.render(), (
        ".env.example is stale: run `lorawan-monitor dashboards generate` and commit it"
    )


def test_every_setting_is_listed_once() -> None:
    listed = re.findall(r"^# (LORAWAN_\w+)=", TEXT, flags=re.M)
    rows = [r[0] for r in env_example.settings_rows() + env_example.opendata_rows()]
    assert listed == rows
    assert len(set(rows)) == len(rows)
    assert {"LORAWAN_MQTT__HOST", "LORAWAN_INFLUX__TOKEN", "LORAWAN_API__PORT"} <= set(rows)
    assert "LORAWAN_OPENDATA__PUBLISHER_NAME" in rows  # issue #14


#: settings that cannot be set from the environment at all (a bug in settings.py, reported)
ENV_BROKEN: set[str] = set()


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("LORAWAN_"):
            monkeypatch.delenv(key)


def test_listed_defaults_are_the_real_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Uncommenting every line unchanged must give exactly the default settings."""
    _clean_env(monkeypatch)
    defaults = load_settings().model_dump(mode="json")
    for var, value in re.findall(r"^# (LORAWAN_\w+)=(.*)$", TEXT, flags=re.M):
        if value and var not in ENV_BROKEN:
            monkeypatch.setenv(var, value)
    assert load_settings().model_dump(mode="json") == defaults


def test_qos_can_be_set_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("LORAWAN_MQTT__QOS", "1")
    assert load_settings().mqtt.qos == 1


def test_compose_variables_match_declared() -> None:
    used = env_example.compose_variables()
    declared = {v.name: v for v in env_example.COMPOSE_VARS}
    assert set(used) == set(declared)
    for name, required in used.items():
        assert declared[name].required == required, name
        if required and name.endswith(("PASSWORD", "TOKEN")):
            assert declared[name].value == env_example.PLACEHOLDER
        assert re.search(rf"^{name}=", TEXT, flags=re.M), name


def test_compose_set_settings_are_real_settings() -> None:
    rows = {r[0] for r in env_example.settings_rows()}
    assert env_example.compose_set_settings() <= rows


class _Inner(BaseModel):
    #: how loud
    level: Literal["low", "high"] = "low"
    names: list[str] = []


class _Outer(BaseModel):
    flag: bool = True  # a trailing note
    inner: _Inner = _Inner()


def test_settings_rows_reads_nesting_defaults_choices_and_comments() -> None:
    assert env_example.settings_rows(_Outer, "X_") == [
        ("X_FLAG", "true", "a trailing note"),
        ("X_INNER__LEVEL", "low", "how loud; one of: low | high"),
        ("X_INNER__NAMES", "[]", ""),
    ]


def test_real_settings_model_is_what_is_walked() -> None:
    assert len(env_example.settings_rows()) >= len(Settings.model_fields)


class _Base(BaseModel):
    #: the base's own words
    shared: int = 1
    #: said by the base, said again by the subclass
    both: int = 2


class _Derived(_Base):
    #: the subclass's words win
    both: int = 3
    own: str = "x"  # a trailing comment


def test_inherited_fields_keep_their_base_class_comments() -> None:
    """A shared base (BrokerSettings under MqttSettings and SourceSettings, #12) loses none
    of the field comments: the generator reads every model class in the MRO."""
    assert env_example.settings_rows(_Derived, "X_") == [
        ("X_SHARED", "1", "the base's own words"),
        ("X_BOTH", "3", "the subclass's words win"),
        ("X_OWN", "x", "a trailing comment"),
    ]
    mqtt = {v: d for v, _, d in env_example.settings_rows() if v.startswith("LORAWAN_MQTT__")}
    assert mqtt["LORAWAN_MQTT__SHARE_GROUP"].startswith("MQTT 5 shared subscription group")
    assert mqtt["LORAWAN_MQTT__CONNECT_TIMEOUT"].startswith("seconds for TCP + TLS set-up")


def test_two_source_example_loads_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """The LORAWAN_SOURCES example line of .env.example is a working setting (#16)."""
    import json

    line = next(
        ln
        for ln in env_example.ENV_EXAMPLE.read_text().splitlines()
        if ln.startswith("#   LORAWAN_SOURCES=[{")
    )
    monkeypatch.setenv("LORAWAN_SOURCES", line.split("=", 1)[1])
    s = load_settings()
    assert [(x.name, x.kind) for x in s.sources] == [
        ("umwelt", "tts"),
        ("stadtwerke", "chirpstack"),
    ]
    assert json.loads(line.split("=", 1)[1]) == env_example.SOURCES_EXAMPLE
