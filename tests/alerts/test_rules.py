"""The rules file: good files load; every bad file is one ConfigError naming the file, the
rule and the problem, never another exception (fuzzed with hypothesis)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.rules import parse_duration, parse_rules
from lorawan_monitor.cli import main
from lorawan_monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "alerts.md"


def bad(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_rules(text, "regeln.yaml")
    msg = str(exc.value)
    assert msg.startswith("alert rules regeln.yaml")
    return msg


def test_good_file_with_defaults():
    rs = parse_rules(
        """
defaults: {channels: [email], repeat: 12h, severity: info}
rules:
  - {name: frost, kind: threshold, quantity: temperature, below: 0.5, clear: 1.5, for: 15m}
  - {name: co2, kind: threshold, quantity: co2, above: 2000, aggregate: mean, window: 10m,
     select: {category: environment, tags: {raum: klassenzimmer}}, channels: [teams]}
  - {name: still, kind: silent, missed: 3, severity: critical}
""",
        "x.yaml",
    )
    frost, co2, still = rs.rules
    assert frost.for_ == 900 and rs.repeat(frost) == 43200 and rs.severity(frost) == "info"
    assert rs.channels(co2) == ["teams"] and rs.channels(still) == ["email"]
    assert rs.severity(still) == "critical"
    with pytest.raises(ConfigError, match="rule 'co2': channel 'teams' is not configured"):
        rs.check_channels(["email"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: [{name: a, kind: loud}]", "rule 'a' (#1), field kind: Input should be"),
        ("rules: [{name: a, kind: silent}]", "rule 'a' (#1): kind silent needs either missed"),
        (
            "rules: [{name: p, kind: threshold, quantity: water_level, above: 2, clear: 3}]",
            "rule 'p' (#1): clear (3.0) must not be above the threshold (2.0)",
        ),
        (
            "rules: [{name: p, kind: threshold, quantity: pegel, above: 2}]",
            "quantity 'pegel' is not in the catalogue",
        ),
        (
            "rules: [{name: p, kind: silent, after: 5 Minuten}]",
            "rule 'p' (#1), field after: '5 Minuten' is not a duration",
        ),
        (
            "rules: [{name: p, kind: silent, after: 1h, title: 'Hallo {geraet}'}]",
            "unknown placeholder {geraet}",
        ),
        ("rules: [{name: p, kind: silent, after: 1h, title: 'a {'}]", "field title: template"),
        ("rules: [{name: p, kind: battery, percent: 10, colour: red}]", "field colour: Extra"),
        (
            "rules: [{name: b, kind: battery, percent: 15, clear: 10}]",
            "rule 'b' (#1): clear (10 %) must be above the level it fires below (percent: 15 %)",
        ),
        (
            "rules: [{name: b, kind: battery, volts: 2.9, clear: 2.9}]",
            "rule 'b' (#1): clear (2.9 V) must be above the level it fires below (volts: 2.9 V)",
        ),
        (
            "rules: [{name: b, kind: battery, percent: 15, volts: 2.9, clear: 20}]",
            "give clear_percent and/or clear_volts instead of clear",
        ),
        (
            "rules: [{name: b, kind: battery, percent: 15, volts: 2.9, clear_volts: 2.8}]",
            "clear_volts (2.8 V) must be above the level it fires below (volts: 2.9 V)",
        ),
        (
            "rules: [{name: b, kind: battery, percent: 15, clear_volts: 3.1}]",
            "clear_volts needs volts",
        ),
        (
            "rules: [{name: s, kind: silent, after: 1h, clear_percent: 20}]",
            "kind silent does not take clear_percent",
        ),
        (
            "rules:\n - {name: x, kind: silent, after: 1h}\n - {name: x, kind: silent, after: 2h}",
            "rule 'x' (#2): the name is used twice",
        ),
        ("rules: [{kind: silent, after: 1h}]", "rule #1, field name: Field required"),
        ("- a\n- b", "the file must hold a mapping"),
        ("rules: [a: b: c]", "not valid YAML"),
        ("rules: {name: x}", "field rules: Input should be a valid list"),
        (
            "rules: [{name: g, kind: gateway, after: 10m, select: {site: x}}]",
            "kind gateway watches gateways",
        ),
    ],
)
def test_bad_files_name_the_rule_and_the_problem(text, expected):
    assert expected in bad(text)


def test_durations():
    assert parse_duration("90s") == 90 and parse_duration("2h") == 7200
    assert parse_duration(30) == 30 and parse_duration("1.5m") == 90
    for wrong in ("-5m", "1y", True, None, "nan", float("inf")):
        with pytest.raises(ValueError):
            parse_duration(wrong)


def test_docs_examples_are_valid_rules_files():
    text = DOCS.read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    assert len(blocks) >= 3
    names = set()
    for block in blocks:
        rs = parse_rules(block, "docs/alerts.md")
        names |= set(rs.by_name)
    assert {"frost", "co2-klassenzimmer", "pegel-hoch", "strand-voll", "parkplatz-voll"} <= names


def test_cli_check(tmp_path, capsys, monkeypatch):
    for k in [k for k in os.environ if k.startswith("LORAWAN_")]:
        monkeypatch.delenv(k)
    good, broken = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("rules: [{name: still, kind: silent, missed: 2}]\n")
    broken.write_text("rules: [{name: still, kind: silent}]\n")
    assert main(["alerts", "check", str(good)]) == 0
    assert "1 rules OK (1 silent)" in capsys.readouterr().out
    assert main(["alerts", "check", str(broken)]) == 2
    err = capsys.readouterr().err
    assert f"alert rules {broken}:" in err and "rule 'still' (#1)" in err


# -- fuzzing ----------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "silent",
            "battery",
            "decode",
            "threshold",
            "gateway",
            "5m",
            "2h",
            "water_level",
            "co2",
            "{device_name}",
            "{",
            "mean",
            "latest",
            "critical",
            "email",
            "log",
        ]
    ),
)
_keys = st.sampled_from(
    [
        "name",
        "kind",
        "select",
        "for",
        "above",
        "below",
        "clear",
        "quantity",
        "missed",
        "after",
        "percent",
        "volts",
        "clear_percent",
        "clear_volts",
        "last",
        "share",
        "window",
        "aggregate",
        "title",
        "description",
        "channels",
        "severity",
        "repeat",
        "gateways",
        "devices",
        "tags",
        "model",
        "x",
    ]
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=6)),
    max_leaves=12,
)
_rule = st.dictionaries(_keys, _values, max_size=8)
_files = st.one_of(
    st.builds(lambda rules: {"rules": rules}, st.lists(_rule, max_size=4)),
    st.dictionaries(st.sampled_from(["rules", "defaults", "other"]), _values, max_size=3),
    _values,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_files)
def test_fuzz_structured_files_never_traceback(data):
    text = yaml.safe_dump(data, allow_unicode=True)
    try:
        parse_rules(text, "fuzz.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("alert rules fuzz.yaml")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_raw_text_never_traceback(text):
    try:
        parse_rules(text, "fuzz.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("alert rules fuzz.yaml")


def test_docs_channel_urls_are_accepted_by_apprise():
    import re

    from pydantic import SecretStr

    from alerts.notify import AppriseChannel

    text = DOCS.read_text(encoding="utf-8")
    urls = re.findall(r"^LORAWAN_ALERTS__CHANNELS__(\w+)=(\S+)$", text, flags=re.M)
    assert len(urls) >= 4
    for name, url in urls:
        if "…" in url:
            continue
        AppriseChannel(name.lower(), SecretStr(url))  # raises ConfigError if not understood
    with pytest.raises(ConfigError, match="LORAWAN_ALERTS__CHANNELS__TEAMS: not a URL"):
        AppriseChannel("teams", SecretStr("msteams://team/a/b/c"))


@pytest.mark.parametrize("command", ["api", "run"])
def test_service_with_a_bad_rules_file_does_not_start(command, tmp_path, capsys, monkeypatch):
    for k in [k for k in os.environ if k.startswith("LORAWAN_")]:
        monkeypatch.delenv(k)
    rules = tmp_path / "alerts.yaml"
    rules.write_text("rules:\n  - {name: pegel, kind: threshold, quantity: water_level}\n")
    monkeypatch.setenv("LORAWAN_ALERTS__RULES_FILE", str(rules))
    monkeypatch.setenv("LORAWAN_STORAGE__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LORAWAN_MQTT__PORT", "9")  # never reached
    assert main([command, "--port", "9"]) == 2
    err = capsys.readouterr().err
    assert f"alert rules {rules}:" in err
    assert "rule 'pegel' (#1): kind threshold needs exactly one of above or below" in err
