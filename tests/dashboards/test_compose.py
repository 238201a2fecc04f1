"""docker-compose.yml, compose.override.yml, Dockerfile and the Mosquitto config.

No Docker engine runs here. What runs for real: ``docker-compose config`` (Debian's
docker-compose 1.29, which interpolates, merges, validates against the compose schema and
checks ``${VAR:?}``) and mosquitto with ``deploy/mosquitto/mosquitto.conf``. The rest
(images pull, containers start, healthchecks pass) is only validated structurally.
"""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from dashboards import env_example
from tests.servers import free_port, wait_port

ROOT = env_example.ROOT
BASE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
OVERRIDE = yaml.safe_load((ROOT / "compose.override.yml").read_text())
SERVICES = {"mosquitto", "influxdb", "grafana", "ingest", "api", "rollup", "simulator"}


def _compose_binary() -> str:
    path = shutil.which("docker-compose")
    assert path, "docker-compose not found: install the Debian package (make deps)"
    return path


def compose_config(tmp_path: Path, env: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run `docker-compose config` on copies of the compose files with ``env`` as .env."""
    for name in ("docker-compose.yml", "compose.override.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".env").write_text(env)
    cmd = [_compose_binary(), "-f", "docker-compose.yml", "-f", "compose.override.yml", *extra]
    return subprocess.run(
        [*cmd, "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )


def filled_env() -> str:
    return env_example.ENV_EXAMPLE.read_text().replace("=changethis", "=s3cret-value")


def test_compose_config_validates_with_the_example_env(tmp_path: Path) -> None:
    done = compose_config(tmp_path, filled_env(), "--profile", "demo")
    assert done.returncode == 0, done.stderr
    cfg = yaml.safe_load(done.stdout)
    assert set(cfg["services"]) == SERVICES
    assert cfg["services"]["simulator"]["profiles"] == ["demo"]
    api_env = cfg["services"]["api"]["environment"]
    assert api_env["LORAWAN_INFLUX__TOKEN"] == "s3cret-value"
    assert api_env["LORAWAN_ENVIRONMENT"] == "production"
    assert cfg["services"]["influxdb"]["ports"], "override publishes InfluxDB for development"


def test_only_the_simulator_has_a_profile(tmp_path: Path) -> None:
    done = compose_config(tmp_path, filled_env(), "--profile", "none")
    assert done.returncode == 0, done.stderr
    # docker-compose 1.29 lists profiled services in `config` whatever --profile says
    cfg = yaml.safe_load(done.stdout)
    assert cfg["services"]["simulator"]["profiles"] == ["demo"]
    assert all("profiles" not in s for n, s in cfg["services"].items() if n != "simulator")


@pytest.mark.parametrize("missing", [v.name for v in env_example.COMPOSE_VARS if v.required])
def test_required_secret_missing_fails_fast(tmp_path: Path, missing: str) -> None:
    env = re.sub(rf"^{missing}=.*$", "", filled_env(), flags=re.M)
    done = compose_config(tmp_path, env)
    assert done.returncode != 0
    assert f"{missing} not set" in done.stderr


def test_healthchecks_and_start_order() -> None:
    svc = BASE["services"]
    for name in ("mosquitto", "influxdb", "grafana", "api"):
        assert svc[name]["healthcheck"]["test"], name
    for name, deps in (
        ("ingest", {"mosquitto", "influxdb"}),
        ("api", {"influxdb"}),
        ("rollup", {"influxdb"}),
        ("grafana", {"influxdb"}),
        ("simulator", {"mosquitto"}),
    ):
        for dep in deps:
            assert svc[name]["depends_on"][dep]["condition"] == "service_healthy", (name, dep)


def test_secrets_are_required_and_never_defaulted() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for var in ("MQTT_PASSWORD", "INFLUX_TOKEN", "INFLUX_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        uses = re.findall(rf"\$\{{{var}(:?[?-])?", text)
        assert uses and all(u == ":?" for u in uses), var


def test_dev_ports_only_in_override() -> None:
    assert "ports" not in BASE["services"]["influxdb"]
    assert OVERRIDE["services"]["influxdb"]["ports"]


def _binds(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for v in service.get("volumes", []):
        src, dst = v.split(":")[:2]
        if src.startswith("./"):
            yield src, dst


def test_bind_mounts_exist_and_grafana_provisioning_lines_up() -> None:
    for name, service in BASE["services"].items():
        for src, _ in _binds(service):
            assert (ROOT / src).exists(), f"{name}: {src} does not exist"
    grafana = BASE["services"]["grafana"]
    mounts = dict(_binds(grafana))
    provider = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards/lora.yaml").read_text())
    assert mounts["./dashboards/json"] == provider["providers"][0]["options"]["path"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).name in {p.name for p in (ROOT / "dashboards/json").glob("*.json")}
    ds_text = (ROOT / "dashboards/provisioning/datasources/influxdb.yaml").read_text()
    for var in set(re.findall(r"\$\{(\w+)\}", ds_text)):
        assert var in grafana["environment"], f"datasource needs {var} in grafana's environment"


def test_influxdb_initialised_from_env_and_service_uses_v1_api() -> None:
    env = BASE["services"]["influxdb"]["environment"]
    for key in ("MODE", "ORG", "BUCKET", "ADMIN_TOKEN", "USERNAME", "PASSWORD"):
        assert f"DOCKER_INFLUXDB_INIT_{key}" in env
    lorawan = BASE["x-lorawan-env"]
    assert lorawan["LORAWAN_INFLUX__API"] == "v1"
    assert lorawan["LORAWAN_INFLUX__DATABASE"] == env["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert lorawan["LORAWAN_INFLUX__TOKEN"] == env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]


def test_dockerfile_installs_from_the_lock() -> None:
    text = (ROOT / "Dockerfile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "uv sync --frozen --no-dev" in text and "COPY pyproject.toml uv.lock" in text
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    for pkg in packages:
        assert f"COPY {pkg} ./{pkg}" in text, f"Dockerfile does not copy {pkg}"
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M):
        for part in src.split():
            assert (ROOT / part).exists(), part
    uv = re.search(r"ARG UV_VERSION=(\S+)", text)
    make = re.search(r"UV_VERSION := (\S+)", (ROOT / "Makefile").read_text())
    assert uv and make and uv.group(1) == make.group(1)
    py = re.search(r"ARG PYTHON_VERSION=3\.(\d+)", text)
    assert py and 11 <= int(py.group(1)) < 13 + 1
    assert re.search(r"^USER (?!root)\w+", text, flags=re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git"} <= set(ignored)


# --- the Mosquitto config, run for real -------------------------------------------------


@pytest.fixture
def secured_broker(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    conf = conf.replace("/mosquitto/data/", f"{tmp_path}/").replace(
        "/mosquitto/data", str(tmp_path)
    )
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    # test-only: stay the user running the tests (as root, mosquitto would switch to the
    # `mosquitto` user, which cannot read pytest's private tmp dir; init.sh chowns instead)
    conf += f"\nuser {getpass.getuser()}\n"
    (tmp_path / "mosquitto.conf").write_text(conf)
    passwd = tmp_path / "passwd"
    passwd.touch(mode=0o600)
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "lorawan", "pw-123"], check=True)
    log = (tmp_path / "log").open("wb")
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(tmp_path / "mosquitto.conf")], stdout=log, stderr=log
    )
    try:
        wait_port(port, proc=proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _connect(port: int, user: str | None, password: str | None) -> int:
    rc: list[int] = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}")
    if user:
        c.username_pw_set(user, password)
    c.on_connect = lambda cl, ud, flags, reason, props: rc.append(reason.value)
    c.connect("127.0.0.1", port)
    for _ in range(50):
        c.loop(0.1)
        if rc:
            break
    c.disconnect()
    return rc[0] if rc else -1


@pytest.mark.integration
def test_mosquitto_config_requires_credentials(secured_broker: int) -> None:
    # paho reports MQTT 5 reason codes: 134 bad user name or password, 135 not authorised
    assert _connect(secured_broker, None, None) in (134, 135)
    assert _connect(secured_broker, "lorawan", "wrong") in (134, 135)
    assert _connect(secured_broker, "lorawan", "pw-123") == 0


def test_ingest_reads_the_mounted_config_file_whose_two_sources_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker-compose.yml mounts deploy/lorawan-monitor.yaml into ingest as its
    LORAWAN_CONFIG_FILE: as shipped (all commented) it sets nothing; with its `sources:`
    block uncommented as its header says, it is two sources (#16)."""
    from lorawan_monitor.settings import load_settings

    ingest = BASE["services"]["ingest"]
    target = ingest["environment"]["LORAWAN_CONFIG_FILE"]
    assert dict(_binds(ingest))["./deploy/lorawan-monitor.yaml"] == target
    shipped = ROOT / "deploy" / "lorawan-monitor.yaml"
    monkeypatch.setenv("LORAWAN_CONFIG_FILE", str(shipped))
    assert load_settings().sources == []
    lines = shipped.read_text().splitlines()
    start = lines.index("# sources:")
    enabled = [ln.removeprefix("# ") if i >= start else ln for i, ln in enumerate(lines)]
    f = tmp_path / "lorawan-monitor.yaml"
    f.write_text("\n".join(enabled) + "\n")
    monkeypatch.setenv("LORAWAN_CONFIG_FILE", str(f))
    s = load_settings()
    assert [(x.name, x.kind, x.host) for x in s.sources] == [
        ("umwelt", "tts", "eu1.cloud.thethings.network"),
        ("stadtwerke", "chirpstack", "mosquitto"),
    ]
