"""A misconfigured `lorawan-monitor ingest` says what is wrong within seconds (issue #14).

The real CLI as a subprocess, as an operator starts it: a wrong broker host, a wrong port,
TLS against a plain port, a store URL that is some other web server (python's own
``http.server`` on loopback), a misspelt variable. Each gives one ERROR naming the
``LORAWAN_*`` setting to check; outages are logged once when they start and once when
they end, and readiness says the same.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulator.fleet import default_fleet, generate
from simulator.publisher import Publisher
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
    env.update(
        {
            "LORAWAN_MQTT__CLIENT_ID": f"op-{tmp_path.name}",
            "LORAWAN_MQTT__RECONNECT_MIN_DELAY": "1",
            "LORAWAN_MQTT__RECONNECT_MAX_DELAY": "1",
            "LORAWAN_STORAGE__DATA_DIR": str(tmp_path / "data"),
            "LORAWAN_INGEST__METRICS_PORT": "0",
            **extra,
        }
    )
    return env


class _Cli:
    """`lorawan-monitor <command>` with its stderr read line by line as it comes."""

    def __init__(self, env: dict[str, str], command: str = "ingest") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lorawan_monitor.cli", command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r} in:\n" + "\n".join(self.lines))

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    def stop(self) -> int:
        self.proc.terminate()
        rc = self.proc.wait(30)
        self._reader.join(5)
        return rc


@contextlib.contextmanager
def running(env: dict[str, str], command: str = "ingest") -> Iterator[_Cli]:
    cli = _Cli(env, command)
    try:
        yield cli
    finally:
        if cli.proc.poll() is None:
            cli.stop()


def _errors(cli: _Cli) -> list[str]:
    return [ln for ln in cli.lines if " ERROR " in ln]


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("no-such-broker.invalid", "1883", "MQTT broker host 'no-such-broker.invalid' not found"),
        ("127.0.0.1", "closed", "refused the connection"),
    ],
    ids=["wrong_host", "wrong_port"],
)
def test_a_wrong_broker_address_is_one_error_naming_the_setting(
    tmp_path: Path, host: str, port: str, expected: str
) -> None:
    port = str(free_port()) if port == "closed" else port
    t0 = time.monotonic()
    with running(_env(tmp_path, LORAWAN_MQTT__HOST=host, LORAWAN_MQTT__PORT=port)) as cli:
        line = cli.wait_for(expected, timeout=15)
        took = time.monotonic() - t0
        assert " ERROR " in line and "LORAWAN_MQTT__HOST" in line, line
        if "refused" in expected:
            assert "LORAWAN_MQTT__PORT" in line and f"127.0.0.1:{port}" in line
        time.sleep(1.5)  # reconnect attempts 0.5 s .. 1 s apart: still one line
        assert len(_errors(cli)) == 1, cli.lines
    assert took < 15


def test_tls_against_a_plain_port_says_so(mosquitto: Mosquitto, tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        LORAWAN_MQTT__HOST="127.0.0.1",
        LORAWAN_MQTT__PORT=str(mosquitto.port),
        LORAWAN_MQTT__TLS="true",
    )
    with running(env) as cli:
        line = cli.wait_for("TLS", timeout=15)
        assert " ERROR " in line, line
        assert "is this a TLS port?" in line and "LORAWAN_MQTT__TLS" in line, line
        time.sleep(1.5)  # TLS retries meanwhile: still one line
        assert len(_errors(cli)) == 1, cli.lines


def test_plain_mqtt_against_a_port_that_never_answers_is_reported(tmp_path: Path) -> None:
    """A port that takes TCP connections and never speaks MQTT: paho alone would wait a
    whole keepalive (60 s); we report it after 1.5 x LORAWAN_MQTT__CONNECT_TIMEOUT."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        env = _env(
            tmp_path,
            LORAWAN_MQTT__HOST="127.0.0.1",
            LORAWAN_MQTT__PORT=str(silent.getsockname()[1]),
            LORAWAN_MQTT__CONNECT_TIMEOUT="2",
        )
        with running(env) as cli:
            line = cli.wait_for("no MQTT answer within 3 s", timeout=15)
            assert " ERROR " in line and "LORAWAN_MQTT__PORT" in line, line


def test_a_misspelt_variable_stops_the_start_with_the_closest_name(tmp_path: Path) -> None:
    env = _env(tmp_path, LORAWAN_INFLUXDB__URL="http://127.0.0.1:8086")
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "lorawan_monitor.cli", "ingest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        "LORAWAN_INFLUXDB__URL is not a setting — did you mean LORAWAN_INFLUX__URL?" in proc.stderr
    )
    assert time.monotonic() - t0 < 15


class _NotInflux(http.server.BaseHTTPRequestHandler):
    """Some other web server: 404 HTML for everything, as a typo in the URL finds."""

    def _answer(self) -> None:
        body = b"<html><head><title>Not Found</title></head><body>nope</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def not_influx(handler: type[http.server.BaseHTTPRequestHandler] = _NotInflux) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_store_url_that_is_not_influxdb_is_refused_at_start(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with not_influx() as url:
        env = _env(
            tmp_path,
            LORAWAN_MQTT__HOST="127.0.0.1",
            LORAWAN_MQTT__PORT=str(mosquitto.port),
            LORAWAN_INFLUX__URL=url,
        )
        proc = subprocess.run(
            [sys.executable, "-m", "lorawan_monitor.cli", "ingest"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 2, proc.stderr
    assert f"LORAWAN_INFLUX__URL={url} does not answer like InfluxDB" in proc.stderr
    assert "404 text/html" in proc.stderr and "X-Influxdb-Version" in proc.stderr


def test_an_unreachable_store_buffers_and_says_so_once(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Nothing listens at LORAWAN_INFLUX__URL: one ERROR naming it, readiness says why,
    and the points wait in the buffer; nothing is rejected."""
    url = f"http://127.0.0.1:{free_port()}"
    aport = free_port()
    env = _env(
        tmp_path,
        LORAWAN_MQTT__HOST="127.0.0.1",
        LORAWAN_MQTT__PORT=str(mosquitto.port),
        LORAWAN_INFLUX__URL=url,
        LORAWAN_API__PORT=str(aport),
    )
    with running(env, "run") as cli:
        line = cli.wait_for("time-series store unavailable", timeout=20)
        assert " ERROR " in line and "LORAWAN_INFLUX__URL" in line and url in line, line
        assert "connection refused" in line, line
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(f"http://127.0.0.1:{aport}/api/v1/health/ready", timeout=2)
                if ready.status_code == 503:
                    break
            assert time.monotonic() < deadline, "API did not answer"
            time.sleep(0.2)
        assert any("LORAWAN_INFLUX__URL" in r for r in ready.json()["reasons"]), ready.json()
        pub = Publisher("127.0.0.1", mosquitto.port, client_id=f"pub-{tmp_path.name}")
        pub.publish(generate(default_fleet(3, networks=("tts",)), count=12, seed=5))
        pub.close()
        deadline = time.monotonic() + 20
        while True:
            ready = httpx.get(f"http://127.0.0.1:{aport}/api/v1/health/ready", timeout=2)
            if ready.json()["buffer_depth"] > 0:
                break
            assert time.monotonic() < deadline, ready.json()
            time.sleep(0.2)
        time.sleep(1)  # retries with backoff: still one line
        assert cli.count("time-series store unavailable") == 1, cli.lines
        metrics = httpx.get(f"http://127.0.0.1:{aport}/metrics", timeout=2).text
        assert 'lorawan_dropped_total{reason="sink_rejected"}' not in metrics
        assert 'lorawan_dependency_up{dependency="store"} 0.0' in metrics
        assert cli.stop() == 0


def test_summary_line_tells_what_ingest_did(mosquitto: Mosquitto, tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        LORAWAN_MQTT__HOST="127.0.0.1",
        LORAWAN_MQTT__PORT=str(mosquitto.port),
        LORAWAN_INGEST__SUMMARY_INTERVAL="1",
    )
    with running(env) as cli:
        cli.wait_for("MQTT connected", timeout=15)
        pub = Publisher("127.0.0.1", mosquitto.port, client_id=f"pub-{tmp_path.name}")
        pub.publish(generate(default_fleet(4, networks=("tts",)), count=20, malformed_count=2))
        pub.close()
        line = cli.wait_for("received 22 messages", timeout=20)
        assert " INFO " in line, line
        assert "stored 20, ignored 0, rejected 2 (malformed 2)" in line, line
        assert "points written" in line and "in the buffer" in line, line
        assert cli.stop() == 0
