"""`lorawan-monitor run` (ingest + API in one process) and `ingest`'s own /metrics, as a user
starts them: real subprocesses, a real mosquitto, the embedded SQLite stores."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from simulator.fleet import default_fleet, generate
from simulator.publisher import Publisher
from tests.integration.helpers import count_points, diff, expected_points, influx_points
from tests.servers import Influxd, Mosquitto, free_port

pytestmark = pytest.mark.integration


def _env(mosquitto: Mosquitto, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
    env.update(
        LORAWAN_MQTT__HOST="127.0.0.1",
        LORAWAN_MQTT__PORT=str(mosquitto.port),
        LORAWAN_MQTT__CLIENT_ID=f"run-{tmp_path.name}",
        LORAWAN_STORAGE__DATA_DIR=str(tmp_path / "data"),
        **extra,
    )
    return env


def _poll(url: str, check, timeout: float = 40.0) -> httpx.Response:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=2)
            if check(last):
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url}: condition not met; last answer {last and last.text[:300]}")


def test_run_serves_ingested_devices_readiness_and_metrics(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    port = free_port()
    env = _env(mosquitto, tmp_path, LORAWAN_API__PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lorawan_monitor.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _poll(f"{base}/api/v1/health/ready", lambda r: r.status_code == 200)
        fleet = default_fleet(6, broken=1, networks=("tts", "chirpstack"))
        pub = Publisher("127.0.0.1", mosquitto.port, client_id=f"pub-{tmp_path.name}")
        # recent uplinks: a device whose data is months old is (rightly) overdue (#14)
        start = datetime.now(UTC) - timedelta(seconds=600 * (60 // len(fleet)))
        pub.publish(generate(fleet, start=start, count=60, malformed_count=3, seed=11))
        pub.close()
        r = _poll(
            f"{base}/api/v1/devices?limit=100",
            lambda r: r.status_code == 200 and r.json()["total"] >= 7,
        )
        devices = r.json()["data"]
        assert r.json()["total"] == 7
        lights = {d["status"] for d in devices}
        assert "decode_error" in lights and "ok" in lights, lights
        m = _poll(f"{base}/metrics", lambda r: 'outcome="rejected",reason="malformed"' in r.text)
        assert (
            'lorawan_messages_total{outcome="rejected",reason="malformed",source="mqtt"} 3.0'
            in m.text
        )
        assert "lorawan_buffer_points" in m.text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]


def test_ingest_exposes_its_own_metrics(mosquitto: Mosquitto, tmp_path: Path) -> None:
    mport = free_port()
    env = _env(mosquitto, tmp_path, LORAWAN_INGEST__METRICS_PORT=str(mport))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lorawan_monitor.cli", "ingest"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _poll(f"http://127.0.0.1:{mport}/metrics", lambda r: "lorawan_mqtt_connected 1.0" in r.text)
        pub = Publisher("127.0.0.1", mosquitto.port, client_id=f"pub-{tmp_path.name}")
        pub.publish(generate(default_fleet(4, networks=("tts",)), count=20, seed=2))
        pub.close()
        _poll(
            f"http://127.0.0.1:{mport}/metrics",
            lambda r: (
                'lorawan_messages_total{outcome="stored",reason="uplink",source="mqtt"} 20.0'
                in r.text
            ),
        )
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]


def _two_free_ports() -> int:
    """A port p such that p and p + 1 are free (the workers' metrics ports)."""
    import socket

    for _ in range(50):
        p = free_port()
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


def test_ingest_workers_split_one_stream_without_duplicates(
    mosquitto: Mosquitto, influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    mport = _two_free_ports()
    env = _env(
        mosquitto,
        tmp_path,
        LORAWAN_INGEST__METRICS_PORT=str(mport),
        LORAWAN_INFLUX__URL=influxd.url,
        LORAWAN_INFLUX__DATABASE=influx_db,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "lorawan_monitor.cli", "ingest", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for port in (mport, mport + 1):
            if proc.poll() is not None:
                raise AssertionError(proc.communicate()[1].decode()[-3000:])
            _poll(
                f"http://127.0.0.1:{port}/metrics",
                lambda r: "lorawan_mqtt_connected 1.0" in r.text,
                60,
            )
        messages = list(generate(default_fleet(8, networks=("chirpstack",)), count=400, seed=21))
        pub = Publisher("127.0.0.1", mosquitto.port, client_id=f"pub-{tmp_path.name}")
        pub.publish(messages)
        pub.close()
        expected = expected_points(messages)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if count_points(influxd, influx_db, "lorawan_uplink", "f_cnt") >= len(messages):
                break
            time.sleep(0.3)
        d = diff(expected, influx_points(influxd, influx_db, {k[0] for k in expected}))
        assert d["missing"] == 0 and d["extra"] == 0 and d["n_wrong"] == 0, repr(d)
        stored = []
        for port in (mport, mport + 1):
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            line = next(
                (
                    ln
                    for ln in text.splitlines()
                    if ln.startswith(
                        'lorawan_messages_total{outcome="stored",reason="uplink",source="mqtt"}'
                    )
                ),
                "x 0",
            )
            stored.append(float(line.split()[-1]))
        assert sum(stored) == len(messages)  # each message went to exactly one worker
        assert all(n > 0 for n in stored), stored  # and both worked
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]


def test_run_evaluates_alerts_in_its_own_child_process(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """`run` with a rules file starts `alerts run` as a child (LORAWAN_ALERTS__EVALUATOR
    defaults to process, #17): the child holds the lease and acts, `run` keeps its
    lorawan_alerts_firing gauge from the stored state, and the child ends with `run`."""
    from alerts.state import AlertDb
    from storage.migrations import create_registry_engine

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "defaults: {channels: [log]}\n"
        "rules:\n  - {name: nicht-lesbar, kind: decode, last: 1, severity: warning}\n",
        encoding="utf-8",
    )
    port = free_port()
    env = _env(
        mosquitto,
        tmp_path,
        LORAWAN_API__PORT=str(port),
        LORAWAN_ALERTS__RULES_FILE=str(rules),
        LORAWAN_ALERTS__INTERVAL="0.5",
        LORAWAN_ALERTS__LEASE_TTL="5",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "lorawan_monitor.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    engine = create_registry_engine(f"sqlite:///{tmp_path / 'data' / 'registry.db'}")
    try:
        base = f"http://127.0.0.1:{port}"
        _poll(f"{base}/api/v1/health/ready", lambda r: r.status_code == 200)
        fleet = default_fleet(3, broken=1, networks=("tts",))
        pub = Publisher("127.0.0.1", mosquitto.port, client_id=f"pub-{tmp_path.name}")
        pub.publish(generate(fleet, start=datetime.now(UTC) - timedelta(minutes=30), count=12))
        pub.close()
        r = _poll(
            f"{base}/api/v1/alerts",
            lambda r: (
                r.status_code == 200 and any(a["state"] == "firing" for a in r.json()["alerts"])
            ),
        )
        assert {a["rule"] for a in r.json()["alerts"]} == {"nicht-lesbar"}
        _poll(
            f"{base}/metrics",
            lambda r: 'lorawan_alerts_firing{rule="nicht-lesbar",severity="warning"} 1.0' in r.text,
        )
        held = AlertDb(engine).holder()
        assert held is not None
        child_pid = int(held[0].split(":")[1])
        assert child_pid != proc.pid
        assert b"\0alerts\0run\0" in Path(f"/proc/{child_pid}/cmdline").read_bytes()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
        engine.dispose()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "alert evaluator running in its own process" in err.decode()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{child_pid}").exists()  # it ended with run


def test_run_keeps_the_uplink_rollup_current(
    mosquitto: Mosquitto, influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    """`run` on InfluxDB keeps the hourly rollup the frame-loss panels read
    (LORAWAN_INFLUX__ROLLUP_EVERY, #15) in a child process: uplinks published while it runs
    appear in ``lorawan_uplink_1h`` without anyone scheduling `dashboards rollup`."""
    port = free_port()
    env = _env(
        mosquitto,
        tmp_path,
        LORAWAN_API__PORT=str(port),
        LORAWAN_INFLUX__URL=influxd.url,
        LORAWAN_INFLUX__DATABASE=influx_db,
        LORAWAN_INFLUX__ROLLUP_EVERY="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "lorawan_monitor.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _poll(f"http://127.0.0.1:{port}/api/v1/health/ready", lambda r: r.status_code == 200, 60)
        fleet = default_fleet(4, networks=("tts",))
        start = datetime.now(UTC) - timedelta(seconds=600 * 5)  # within the rollup's 3 h
        pub = Publisher("127.0.0.1", mosquitto.port, client_id=f"pub-{tmp_path.name}")
        pub.publish(generate(fleet, start=start, count=20, seed=5))
        pub.close()

        def rolled_up() -> float:
            r = httpx.get(
                f"{influxd.url}/query",
                params={"db": influx_db, "q": 'SELECT sum("uplinks") FROM "lorawan_uplink_1h"'},
                timeout=5,
            )
            series = r.json()["results"][0].get("series") or []
            return float(series[0]["values"][0][1]) if series else 0.0

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and rolled_up() < 20:
            time.sleep(0.5)
        assert rolled_up() == 20
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
