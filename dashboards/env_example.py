"""Generate ``.env.example``: the docker-compose variables plus every ``LORAWAN_*`` setting.

One source of truth for defaults: the compose variables are declared here (a test checks
that they are exactly the ``${VAR}`` used in the compose files) and the settings come from
``lorawan_monitor.settings.Settings`` (names, defaults, allowed values and the ``#:``
comments above each field). ``lorawan-monitor dashboards generate`` rewrites the file.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from lorawan_monitor.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / ".env.example"
COMPOSE_FILES = (ROOT / "docker-compose.yml", ROOT / "compose.override.yml")
PLACEHOLDER = "changethis"


@dataclass(frozen=True, kw_only=True)
class ComposeVar:
    name: str
    value: str
    help: str
    required: bool = False


COMPOSE_VARS: tuple[ComposeVar, ...] = (
    ComposeVar(name="MQTT_USERNAME", value="lorawan", help="broker user the service logs in with", required=True),
    ComposeVar(name="MQTT_PASSWORD", value=PLACEHOLDER, help="its password", required=True),
    ComposeVar(name="MQTT_PUBLISHER_USERNAME", value="", help="optional second broker user (ChirpStack's MQTT integration)"),
    ComposeVar(name="MQTT_PUBLISHER_PASSWORD", value="", help="its password"),
    ComposeVar(name="MQTT_HOST", value="mosquitto", help="broker the service subscribes to (an external TTS/ChirpStack broker works too)"),
    ComposeVar(name="MQTT_PORT", value="1883", help="its port"),
    ComposeVar(name="MQTT_ENVELOPE", value="auto", help="tts | chirpstack | chirpstack-v3 | auto"),
    ComposeVar(name="INGEST_WORKERS", value="1", help="ingest processes on one shared subscription (one per core; not with the TTS broker)"),
    ComposeVar(name="MQTT_PUBLISH_PORT", value="1883", help="host port of the bundled mosquitto"),
    ComposeVar(name="INFLUX_ADMIN_USER", value="admin", help="InfluxDB 2.x initial admin user"),
    ComposeVar(name="INFLUX_ADMIN_PASSWORD", value=PLACEHOLDER, help="its password (8+ characters)", required=True),
    ComposeVar(name="INFLUX_ORG", value="lorawan", help="InfluxDB organisation created at first start"),
    ComposeVar(name="INFLUX_BUCKET", value="lorawan", help="bucket = v1 database name (virtual DBRP mapping)"),
    ComposeVar(name="INFLUX_TOKEN", value=PLACEHOLDER, help="admin API token set at first start; used by the service and Grafana (e.g. openssl rand -hex 32)", required=True),
    ComposeVar(name="INFLUX_DEV_PORT", value="8086", help="compose.override.yml only: InfluxDB on the host"),
    ComposeVar(name="GRAFANA_ADMIN_USER", value="admin", help="Grafana admin user"),
    ComposeVar(name="GRAFANA_ADMIN_PASSWORD", value=PLACEHOLDER, help="Grafana admin password", required=True),
    ComposeVar(name="GRAFANA_ANONYMOUS", value="false", help="true = dashboards readable without login (Viewer role)"),
    ComposeVar(name="GRAFANA_PORT", value="3000", help="host port of Grafana"),
    ComposeVar(name="API_PORT", value="8080", help="host port of the REST API and installer page"),
    ComposeVar(name="LORAWAN_IMAGE_TAG", value="latest", help="tag of the lorawan-monitor image built by compose"),
    ComposeVar(name="SIMULATOR_COUNT", value="100000", help="demo profile: uplinks the simulator publishes"),
    ComposeVar(name="SIMULATOR_RATE", value="2", help="demo profile: uplinks per second"),
)  # fmt: skip


def compose_variables(files: tuple[Path, ...] = COMPOSE_FILES) -> dict[str, bool]:
    """``${VAR}`` names used in the compose files -> whether any use marks them required."""
    found: dict[str, bool] = {}
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("#"):
                continue
            for name, op in re.findall(r"\$\{(\w+)(:?[?-])?", line):
                found[name] = found.get(name, False) or op == ":?"
    return found


def compose_set_settings(files: tuple[Path, ...] = COMPOSE_FILES) -> set[str]:
    """LORAWAN_* settings that docker-compose.yml sets for the service containers (not
    the variables read outside the settings, such as LORAWAN_CONFIG_FILE)."""
    from lorawan_monitor.envcheck import OTHER_VARIABLES

    doc = yaml.safe_load(files[0].read_text(encoding="utf-8"))
    keys = set(doc.get("x-lorawan-env", {}))
    for svc in doc["services"].values():
        env = svc.get("environment", {})
        if isinstance(env, dict):
            keys |= {k for k in env if k.startswith("LORAWAN_")}
    return keys - set(OTHER_VARIABLES)


def _comments(cls: type) -> dict[str, str]:
    """``#:`` comment lines directly above a field, and trailing ``# ...`` comments, of the
    class and of the models it inherits fields from (a subclass's own comment wins)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if _own_model(klass):
            out.update(_own_comments(klass))
    return out


def _own_model(klass: type) -> bool:
    """A settings model of ours (pydantic's own bases declare no settings)."""
    return issubclass(klass, BaseModel) and klass.__module__.partition(".")[0] not in (
        "pydantic",
        "pydantic_settings",
    )


def _own_comments(cls: type) -> dict[str, str]:
    """The comments in ``cls``'s own source (not its bases')."""
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(cls).splitlines():
        s = line.strip()
        if s.startswith("#:"):
            pending.append(s[2:].strip())
            continue
        m = re.match(r"(\w+)\s*:\s*[^=]+?(?:=.*?)?(?:#\s*(.*))?$", s)
        if m and not s.startswith(("def ", "class ", "@", "return")):
            text = " ".join(pending) or (m.group(2) or "")
            if text:
                out[m.group(1)] = text
        pending = []
    return out


def _format(value: Any) -> str:
    if value is None or isinstance(value, SecretStr):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _choices(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(str(a) for a in args)
    for a in args:
        if typing.get_origin(a) is typing.Literal:
            return " | ".join(str(x) for x in typing.get_args(a))
    return ""


#: the two-source example shown under LORAWAN_SOURCES (a test loads it into Settings, #16)
SOURCES_EXAMPLE: list[dict[str, Any]] = [
    {
        "name": "umwelt",
        "kind": "tts",
        "host": "eu1.cloud.thethings.network",
        "port": 8883,
        "tls": True,
        "username": "umwelt@ttn",
        "password": "NNSXS.XXXX",
    },
    {"name": "stadtwerke", "kind": "chirpstack", "host": "mosquitto", "port": 1883},
]


def settings_rows(
    model: type[BaseModel] = Settings, prefix: str = "LORAWAN_"
) -> list[tuple[str, str, str]]:
    """(variable, default, description) for every leaf setting, in declaration order."""
    rows: list[tuple[str, str, str]] = []
    notes = _comments(model)
    for name, info in model.model_fields.items():
        var = prefix + name.upper()
        ann = info.annotation
        if inspect.isclass(ann) and issubclass(ann, BaseModel):
            rows += settings_rows(ann, var + "__")
            continue
        rows.append((var, _format(_default(info)), _describe(notes.get(name, ""), ann)))
    return rows


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


def _describe(note: str, annotation: Any) -> str:
    choices = _choices(annotation)
    parts = [note.replace("``", "`")] if note else []
    if choices:
        parts.append(f"one of: {choices}")
    return "; ".join(parts)


def render(files: tuple[Path, ...] = COMPOSE_FILES) -> str:
    set_by_compose = compose_set_settings(files)
    out = [
        "# lorawan-monitor — environment for docker compose.  GENERATED: do not edit by hand;",
        "# run `lorawan-monitor dashboards generate` after changing Settings or the compose files.",
        "# Copy to .env and replace every 'changethis' (the service refuses placeholders in",
        "# production).",
        "",
        "# --- docker compose variables (required ones: compose stops with an error if unset) ---",
    ]
    for v in COMPOSE_VARS:
        flag = "REQUIRED. " if v.required else ""
        out += [f"# {flag}{v.help}", f"{v.name}={v.value}"]
    out += [
        "",
        "# --- service settings (LORAWAN_*, passed to the containers through env_file) ---",
        "# Defaults shown commented out; uncomment to change. Nested settings use '__'.",
    ]
    for var, default, desc in settings_rows():
        if var in set_by_compose:
            desc = (desc + "; " if desc else "") + "set by docker-compose.yml (edit it there)"
        if desc:
            out.append(f"# {desc}")
        out.append(f"# {var}={default}")
        if var == "LORAWAN_SOURCES":  # #16: what two sources look like
            example = json.dumps(SOURCES_EXAMPLE, separators=(",", ":"))
            out.append("# two sources, a TTS application and a ChirpStack broker (or in YAML:")
            out.append("# deploy/lorawan-monitor.yaml, mounted by docker-compose.yml), e.g.")
            out.append(f"#   {var}={example}")
    out += [
        "",
        "# --- OpenData export (LORAWAN_OPENDATA__*, read by export / opendata / the API) ---",
    ]
    for var, default, desc in opendata_rows():
        if desc:
            out.append(f"# {desc}")
        out.append(f"# {var}={default}")
    return "\n".join(out) + "\n"


def opendata_rows() -> list[tuple[str, str, str]]:
    """The OpenData settings (their own model, beside the export), as settings_rows."""
    from opendata.config import OpenDataSettings

    return settings_rows(OpenDataSettings, "LORAWAN_OPENDATA__")


def write(path: Path = ENV_EXAMPLE) -> bool:
    """Write the file; True if it changed."""
    text = render()
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True
