"""The rules file: YAML, validated with pydantic when the service starts.

A bad file stops the service with one :class:`~lorawan_monitor.errors.ConfigError`
naming the file, the rule (by name or position) and the problem; the loader never lets
another exception out (a hypothesis test feeds it arbitrary files). Format
(docs/alerts.md)::

    defaults: {channels: [email], repeat: 12h, severity: warning}
    rules:
      - name: pegel-hoch
        kind: threshold          # silent | battery | decode | threshold | gateway
        select: {category: environment, site: hafen}
        quantity: water_level
        above: 2.5               # or below:
        clear: 2.3               # hysteresis: firing until the value is back under 2.3
        aggregate: latest        # latest | mean | max | min (over window)
        for: 5m
        severity: critical
        title: "Pegel {site}: {value_unit}"
        channels: [email, teams]
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from decoders.quantities import Quantity
from decoders.quantities import info as quantity_info
from lorawan_monitor.errors import ConfigError

Severity = Literal["info", "warning", "critical"]
Kind = Literal["silent", "battery", "decode", "threshold", "gateway"]
#: the built-in channel: writes the message to the service log (the demo's default)
LOG_CHANNEL = "log"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"2h"``, ``"1d"`` (never negative)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '5m', '2h', '1d'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    else:
        raise ValueError(
            f"{value!r} is not a duration (a number of seconds or text like '5m', '2h', '1d')"
        )
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{value!r}: a duration must be a finite number >= 0")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]

#: placeholders a title or description may use (filled per alert; see docs/alerts.md)
PLACEHOLDERS = frozenset(
    {
        "rule",
        "severity",
        "device_key",
        "device_name",
        "site",
        "category",
        "model",
        "value",
        "unit",
        "value_unit",
        "threshold",
        "since",
        "last_seen",
        "gateway",
        "quantity",
        "error",
    }
)

DEFAULT_TITLES: Mapping[str, str] = {
    "silent": "Sensor {device_name} meldet sich nicht",
    "battery": "Batterie schwach: {device_name} ({value_unit})",
    "decode": "Sensor {device_name}: Daten nicht lesbar",
    "threshold": "{quantity} {device_name}: {value_unit}",
    "gateway": "Gateway {gateway} empfängt nichts",
}
DEFAULT_DESCRIPTIONS: Mapping[str, str] = {
    "silent": "Letzte Nachricht: {last_seen}. Standort: {site}.",
    "battery": "Batteriestand {value_unit} (Grenze {threshold}). Standort: {site}.",
    "decode": "Die letzten Nachrichten ließen sich nicht dekodieren: {error}. Standort: {site}.",
    "threshold": "Wert {value_unit} (Grenze {threshold}) seit {since}. Standort: {site}.",
    "gateway": "Über das Gateway {gateway} kam seit {last_seen} keine Nachricht.",
}

DEFAULT_TITLES_EN: Mapping[str, str] = {
    "silent": "Sensor {device_name} is silent",
    "battery": "Battery low: {device_name} ({value_unit})",
    "decode": "Sensor {device_name}: data cannot be decoded",
    "threshold": "{quantity} {device_name}: {value_unit}",
    "gateway": "Gateway {gateway} receives nothing",
}
DEFAULT_DESCRIPTIONS_EN: Mapping[str, str] = {
    "silent": "Last message: {last_seen}. Site: {site}.",
    "battery": "Battery {value_unit} (limit {threshold}). Site: {site}.",
    "decode": "The last messages could not be decoded: {error}. Site: {site}.",
    "threshold": "Value {value_unit} (limit {threshold}) since {since}. Site: {site}.",
    "gateway": "No message through gateway {gateway} since {last_seen}.",
}


class Selector(BaseModel):
    """Which devices a rule watches; every given criterion must match (AND)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    category: str | None = None
    site: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    devices: list[str] = Field(default_factory=list)

    @field_validator("devices")
    @classmethod
    def _keys(cls, v: list[str]) -> list[str]:
        return [
            k.upper() if len(k) == 16 and all(c in string.hexdigits for c in k) else k for k in v
        ]


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: list[str] | None = None
    severity: Severity = "warning"
    repeat: Duration | None = None


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: Kind
    select: Selector = Selector()
    severity: Severity | None = None
    for_: Duration = Field(0.0, alias="for")
    repeat: Duration | None = None
    channels: list[str] | None = None
    title: str | None = None
    description: str | None = None
    # silent: N x the device's expected interval, or a fixed duration (`after`)
    missed: float | None = Field(None, gt=0)
    after: Duration | None = None
    # battery: percent and/or volts, whichever the device reports
    percent: float | None = Field(None, ge=0, le=100)
    volts: float | None = Field(None, gt=0, le=10)
    #: battery hysteresis: once firing, resolved only at or above this level (``clear`` for
    #: a rule with one level; ``clear_percent``/``clear_volts`` when it has both)
    clear_percent: float | None = Field(None, ge=0, le=100)
    clear_volts: float | None = Field(None, gt=0, le=10)
    # decode: the last K uplinks failed, or the error share over `window` above `share`
    last: int | None = Field(None, ge=1, le=100)
    share: float | None = Field(None, gt=0, le=1)
    # threshold
    quantity: str | None = None
    sensor: str | None = None
    above: float | None = None
    below: float | None = None
    clear: float | None = None
    aggregate: Literal["latest", "mean", "max", "min"] = "latest"
    window: Duration | None = None
    # gateway
    gateways: list[str] = Field(default_factory=list)

    @field_validator("title", "description")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is not None:
            check_template(v)
        return v

    @model_validator(mode="after")
    def _kind_fields(self) -> Rule:
        check = _KIND_CHECKS[self.kind]
        check(self)
        return self

    # -- derived -----------------------------------------------------------------------

    def title_template(self, lang: str = "de") -> str:
        return self.title or (DEFAULT_TITLES_EN if lang == "en" else DEFAULT_TITLES)[self.kind]

    def description_template(self, lang: str = "de") -> str:
        defaults = DEFAULT_DESCRIPTIONS_EN if lang == "en" else DEFAULT_DESCRIPTIONS
        return self.description or defaults[self.kind]

    def unit(self) -> str | None:
        if self.kind == "threshold" and self.quantity:
            return quantity_info(self.quantity).unit or None
        return None

    def trigger(self) -> float | None:
        return self.above if self.above is not None else self.below

    def battery_clear(self, unit: str) -> float | None:
        """The level (in ``unit``: "%" or "V") a firing battery alert resolves at."""
        if unit == "%":
            if self.clear_percent is not None:
                return self.clear_percent
            return self.clear if self.volts is None else None
        if self.clear_volts is not None:
            return self.clear_volts
        return self.clear if self.percent is None else None


def _need(rule: Rule, *names: str) -> None:
    missing = [n for n in names if getattr(rule, n) is None]
    if missing:
        raise ValueError(f"kind {rule.kind} needs {', '.join(missing)}")


def _forbid(rule: Rule, *names: str) -> None:
    given = [n for n in names if getattr(rule, n) not in (None, [])]
    if given:
        raise ValueError(f"kind {rule.kind} does not take {', '.join(given)}")


_THRESHOLD_ONLY = ("quantity", "sensor", "above", "below", "clear", "window")
_BATTERY_ONLY = ("percent", "volts", "clear_percent", "clear_volts")


def _silent(rule: Rule) -> None:
    if (rule.missed is None) == (rule.after is None):
        raise ValueError(
            "kind silent needs either missed (times the expected interval) or after (a duration)"
        )
    _forbid(rule, *_BATTERY_ONLY, "last", "share", "gateways", *_THRESHOLD_ONLY)


def _battery(rule: Rule) -> None:
    if rule.percent is None and rule.volts is None:
        raise ValueError("kind battery needs percent and/or volts (the level below which it fires)")
    if rule.clear is not None and rule.percent is not None and rule.volts is not None:
        raise ValueError(
            "kind battery with percent and volts: give clear_percent and/or clear_volts "
            "instead of clear (which level would it be?)"
        )
    if rule.clear_percent is not None and rule.percent is None:
        raise ValueError("clear_percent needs percent (the level below which it fires)")
    if rule.clear_volts is not None and rule.volts is None:
        raise ValueError("clear_volts needs volts (the level below which it fires)")
    for level, unit, what in ((rule.percent, "%", "percent"), (rule.volts, "V", "volts")):
        clear = rule.battery_clear(unit)
        if level is not None and clear is not None and clear <= level:
            name = "clear" if rule.clear is not None else f"clear_{what}"
            raise ValueError(
                f"{name} ({clear:g} {unit}) must be above the level it fires below "
                f"({what}: {level:g} {unit}): a battery resolves once back above it"
            )
    _forbid(rule, "missed", "after", "last", "share", "gateways", "quantity", "sensor")
    _forbid(rule, "above", "below", "window")


def _decode(rule: Rule) -> None:
    if (rule.last is None) == (rule.share is None):
        raise ValueError(
            "kind decode needs either last (the last K uplinks failed) or share (with window)"
        )
    if rule.share is not None and not rule.window:
        raise ValueError("kind decode with share needs window (e.g. 1h)")
    _forbid(rule, "missed", "after", *_BATTERY_ONLY, "gateways", "quantity", "above", "below")


def _threshold(rule: Rule) -> None:
    _need(rule, "quantity")
    assert rule.quantity is not None
    try:
        Quantity(rule.quantity)
    except ValueError:
        raise ValueError(
            f"quantity {rule.quantity!r} is not in the catalogue (e.g. water_level, co2, "
            "temperature, occupied)"
        ) from None
    if (rule.above is None) == (rule.below is None):
        raise ValueError("kind threshold needs exactly one of above or below")
    if rule.clear is not None:
        if rule.above is not None and rule.clear > rule.above:
            raise ValueError(f"clear ({rule.clear}) must not be above the threshold ({rule.above})")
        if rule.below is not None and rule.clear < rule.below:
            raise ValueError(f"clear ({rule.clear}) must not be below the threshold ({rule.below})")
    if rule.aggregate != "latest" and not rule.window:
        raise ValueError(f"aggregate {rule.aggregate} needs window (e.g. 15m)")
    _forbid(rule, "missed", "after", *_BATTERY_ONLY, "last", "share", "gateways")


def _gateway(rule: Rule) -> None:
    _need(rule, "after")
    _forbid(rule, "missed", *_BATTERY_ONLY, "last", "share", *_THRESHOLD_ONLY)
    if rule.select != Selector():
        raise ValueError("kind gateway watches gateways: give gateways: [...], not select")


_KIND_CHECKS = {
    "silent": _silent,
    "battery": _battery,
    "decode": _decode,
    "threshold": _threshold,
    "gateway": _gateway,
}


def check_template(text: str) -> None:
    """Raise ValueError when ``text`` is not a valid template of known placeholders."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"template {text!r}: {exc} (write {{{{ and }}}} for braces)") from None
    for _lit, field, spec, conv in parts:
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            raise ValueError(
                f"unknown placeholder {{{field}}} in {text!r}; known: "
                + ", ".join(sorted(PLACEHOLDERS))
            )
        if spec or conv:
            raise ValueError(f"placeholder {{{field}}} in {text!r}: no format spec or !conversion")


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: Defaults = Defaults()
    rules: list[Rule] = Field(default_factory=list)


class RuleSet:
    """Validated rules with the file's defaults applied."""

    def __init__(self, rules: Sequence[Rule], defaults: Defaults, source: str) -> None:
        self.rules = tuple(rules)
        self.defaults = defaults
        self.source = source
        self.by_name = {r.name: r for r in self.rules}

    def severity(self, rule: Rule) -> Severity:
        return rule.severity or self.defaults.severity

    def repeat(self, rule: Rule) -> float | None:
        return rule.repeat if rule.repeat is not None else self.defaults.repeat

    def channels(self, rule: Rule) -> list[str]:
        if rule.channels is not None:
            return rule.channels
        if self.defaults.channels is not None:
            return self.defaults.channels
        return [LOG_CHANNEL]

    def check_channels(self, known: Sequence[str]) -> None:
        """Every channel a rule names is configured (ConfigError naming rule and setting)."""
        names = set(known) | {LOG_CHANNEL}
        for rule in self.rules:
            for ch in self.channels(rule):
                if ch not in names:
                    raise ConfigError(
                        f"alert rules {self.source}: rule {rule.name!r}: channel {ch!r} is not "
                        f"configured (set LORAWAN_ALERTS__CHANNELS__{ch.upper()} to an apprise "
                        f"URL; configured: {', '.join(sorted(names))})"
                    )


def _where(loc: Sequence[int | str], data: Any) -> str:
    """``rule 'pegel' (#2), field above`` from a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        i = loc[1]
        name = None
        if isinstance(data, dict) and isinstance(data.get("rules"), list):
            rules = data["rules"]
            if i < len(rules) and isinstance(rules[i], dict):
                raw = rules[i].get("name")
                name = raw if isinstance(raw, str) else None
        head = f"rule {name!r} (#{i + 1})" if name else f"rule #{i + 1}"
        rest = [str(p) for p in loc[2:] if not str(p).startswith("function-")]
        return head + (f", field {'.'.join(rest)}" if rest else "")
    return "field " + ".".join(str(p) for p in loc) if loc else "file"


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Validate the YAML ``text``; ConfigError naming ``source``, the rule and the problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"alert rules {source}: not valid YAML ({exc})") from None
    except (ValueError, RecursionError) as exc:  # e.g. unhashable keys, deep nesting
        raise ConfigError(f"alert rules {source}: not valid YAML ({exc!r})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"alert rules {source}: the file must hold a mapping with 'rules:' (and optionally "
            f"'defaults:'), got {type(data).__name__}"
        )
    try:
        parsed = RulesFile.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors()[:10]:
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{_where(err['loc'], data)}: {msg}")
        raise ConfigError(f"alert rules {source}:\n  " + "\n  ".join(lines)) from None
    except RecursionError:
        raise ConfigError(f"alert rules {source}: nested too deeply") from None
    seen: set[str] = set()
    for i, rule in enumerate(parsed.rules):
        if rule.name in seen:
            raise ConfigError(
                f"alert rules {source}: rule {rule.name!r} (#{i + 1}): the name is used twice"
            )
        seen.add(rule.name)
    return RuleSet(parsed.rules, parsed.defaults, source)


def load_rules(path: Path) -> RuleSet:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"alert rules {path}: cannot read the file ({exc})") from None
    return parse_rules(text, str(path))
