"""Scale-out that holds (#20), with real parts: ``lorawan-monitor ingest --workers N`` as a
process tree, a real mosquitto with persistence, a real influxd and a real throwaway
PostgreSQL cluster as the shared registry.

Each scenario publishes a ChirpStack v4 stream at QoS 1, breaks something mid-stream and
then asserts for readings AND registry: every uplink's points in InfluxDB (point by
point), every uplink once in the journal (n/n), ``uplink_count`` n/n, no phantom missed
frames, the right last ``f_cnt`` per device.

1. kill -9 of one worker: the supervisor restarts it, the other keeps running
2. kill -9 of the supervisor: the workers stop too (no orphans); a second supervisor on
   the same data dir is refused while one runs; a new start works
3. PostgreSQL stopped mid-stream: the journal catches up; logged once down, once back
4. 3 -> 2 -> 3 workers mid-stream: the retired worker's session is drained, not stranded

A longer run of the same scenarios: ``bench/scaleout.py``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ingest.models import RawMessage
from ingest.pipeline import Pipeline
from simulator.fleet import SimMessage, default_fleet, generate
from simulator.publisher import Publisher
from tests.integration.helpers import count_points, diff, expected_points, influx_points
from tests.servers import Influxd, Mosquitto, Postgres, running_mosquitto, running_postgres

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
#: how long PostgreSQL stays down in scenario 3 (bench/scaleout.py: 20 s)
PG_OUTAGE_S = float(os.environ.get("LM_TEST_PG_OUTAGE_S", "6"))


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    """A broker of this module's own, with persistence (sessions survive, queues kept)."""
    with running_mosquitto() as m:
        yield m


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with running_postgres() as p:
        yield p


def _wait(pred: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def stream(count: int, seed: int, devices: int = 12) -> list[SimMessage]:
    return list(generate(default_fleet(devices, networks=("chirpstack",)), count=count, seed=seed))


def expected_registry(messages: Sequence[SimMessage]) -> dict[str, tuple[int, int, int]]:
    """device key -> (uplinks, missed frames, last f_cnt) the registry must end with, from
    the stream itself (each message parsed once, in publishing order)."""
    by_dev: dict[str, list[tuple[object, int]]] = defaultdict(list)
    p = Pipeline()
    for m in messages:
        r = p.process(RawMessage(topic=m.topic, payload=m.payload))
        assert r.record is not None, r
        by_dev[r.record.device_key].append((r.record.received_at, r.record.f_cnt))
    out = {}
    for key, ups in by_dev.items():
        ups.sort(key=lambda u: u[0])  # type: ignore[arg-type, return-value]
        f = [c for _, c in ups]
        out[key] = (len(f), max(f) - min(f) + 1 - len(set(f)), f[-1])
    return out


def registry_state(dsn: str) -> tuple[int, dict[str, tuple[int, int, int]]]:
    """(journal rows, device key -> (uplink_count, fcnt_missed, last_f_cnt)) in the
    registry (PostgreSQL, or a SQLite file)."""
    if dsn.startswith("sqlite:///"):
        import sqlite3

        try:
            with contextlib.closing(sqlite3.connect(dsn.removeprefix("sqlite:///"))) as db:
                journal = db.execute("SELECT count(*) FROM journal").fetchone()
                rows = db.execute(
                    "SELECT device_key, uplink_count, fcnt_missed, last_f_cnt FROM devices"
                ).fetchall()
        except sqlite3.Error:
            return -1, {}
        return int(journal[0]), {k: (u, m, f) for k, u, m, f in rows}
    url = dsn.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            journal = conn.execute("SELECT count(*) FROM journal").fetchone()
            rows = conn.execute(
                "SELECT device_key, uplink_count, fcnt_missed, last_f_cnt FROM devices"
            ).fetchall()
    except psycopg.Error:
        return -1, {}
    return int(journal[0] if journal else 0), {k: (u, m, f) for k, u, m, f in rows}


class Ingest:
    """``lorawan-monitor ingest --workers N`` as a process, its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0

    def start(self, workers: int, *, subscribed: int | None = None) -> None:
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lorawan_monitor.cli", "ingest", "--workers", str(workers)],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=out,
            )
        want = workers if subscribed is None else subscribed
        ok = _wait(lambda: self.new_log().count("subscribed to $share/") >= want or self.dead(), 40)
        assert ok and not self.dead(), self.new_log()[-3000:]

    def dead(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    def new_log(self) -> str:
        return self.log_path.read_bytes()[self._offset :].decode(errors="replace")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> list[int]:
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()]

    def worker_pid(self, name: str) -> int:
        """The pid of ``name`` (worker-2 ...): its client id's env in /proc."""
        for pid in self.children():
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"LORAWAN_WORKER_NAME={name}".encode() in env:
                return pid
        raise AssertionError(f"no {name} among {self.children()}")

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(90)


def _env(broker: Mosquitto, influxd: Influxd, db: str, dsn: str, data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LORAWAN_MQTT__HOST": "127.0.0.1",
        "LORAWAN_MQTT__PORT": str(broker.port),
        "LORAWAN_MQTT__CLIENT_ID": "scale-" + uuid.uuid4().hex[:6],
        "LORAWAN_MQTT__SHARE_GROUP": "g" + uuid.uuid4().hex[:6],
        "LORAWAN_MQTT__QOS": "1",
        "LORAWAN_MQTT__SESSION_EXPIRY": "3600",
        "LORAWAN_MQTT__RECONNECT_MIN_DELAY": "1",
        "LORAWAN_MQTT__RECONNECT_MAX_DELAY": "1",
        "LORAWAN_INFLUX__URL": influxd.url,
        "LORAWAN_INFLUX__DATABASE": db,
        "LORAWAN_INFLUX__FLUSH_INTERVAL": "0.2",
        "LORAWAN_STORAGE__DATA_DIR": str(data),
        "LORAWAN_STORAGE__REGISTRY_URL": dsn,
        "LORAWAN_STORAGE__JOURNAL_PER_DEVICE": "100000",
        "LORAWAN_INGEST__METRICS_PORT": "0",
    }


class _Stream:
    """Publishes in the background at a rate (QoS 1)."""

    def __init__(self, port: int, messages: Sequence[SimMessage], rate: float) -> None:
        self.pub = Publisher("127.0.0.1", port, client_id="pub-" + uuid.uuid4().hex[:8])
        self.messages, self.rate, self.sent = messages, rate, 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.sent = self.pub.publish(self.messages, rate=self.rate)
        except BaseException as exc:  # surfaced in join()
            self.error = exc

    def join(self, timeout: float = 90) -> int:
        self.thread.join(timeout)
        self.pub.close()
        if self.error is not None:
            raise self.error
        return self.sent


def _uplinks(influxd: Influxd, db: str) -> int:
    try:
        return count_points(influxd, db, "lorawan_uplink", "f_cnt")
    except Exception:
        return -1


def figures(
    influxd: Influxd, db: str, dsn: str, messages: Sequence[SimMessage], timeout: float = 60
) -> dict[str, Any]:
    """Readings and registry against the stream, once both have caught up (or timed out)."""
    n = len(messages)
    want = expected_registry(messages)
    _wait(lambda: _uplinks(influxd, db) >= n, timeout)
    _wait(lambda: registry_state(dsn)[0] >= n, timeout)
    expected = expected_points(messages)
    d = diff(expected, influx_points(influxd, db, {k[0] for k in expected}))
    journal, devices = registry_state(dsn)
    return {
        "published": n,
        "readings": _uplinks(influxd, db),
        "points_missing": d["missing"],
        "points_extra": d["extra"],
        "points_wrong": d["n_wrong"],
        "journal": journal,
        "uplink_count": sum(u for u, _, _ in devices.values()),
        "phantom_missed": sum(m for _, m, _ in devices.values())
        - sum(m for _, m, _ in want.values()),
        "wrong_last_f_cnt": sum(
            1 for k, (_, _, f) in want.items() if devices.get(k, (0, 0, -1))[2] != f
        ),
        "devices": len(want),
        "status_exact": {k: v for k, v in devices.items() if k in want} == want,
    }


def summary(what: str, f: dict[str, Any]) -> str:
    n = f["published"]
    return (
        f"{what}: readings {f['readings']}/{n} (points missing {f['points_missing']}, extra "
        f"{f['points_extra']}), journal {f['journal']}/{n}, uplink_count {f['uplink_count']}/{n}, "
        f"phantom missed frames {f['phantom_missed']}, devices with a wrong last f_cnt "
        f"{f['wrong_last_f_cnt']}/{f['devices']}"
    )


def assert_complete(
    what: str, influxd: Influxd, db: str, dsn: str, messages: Sequence[SimMessage]
) -> None:
    """n/n readings and n/n journal rows, exact device status: the issue's table row."""
    f = figures(influxd, db, dsn, messages)
    log.info("%s", summary(what, f))
    n = f["published"]
    assert f["points_missing"] == 0 and f["points_extra"] == 0 and f["points_wrong"] == 0, f
    assert f["readings"] == n
    assert f["journal"] == n  # once each: no hole, no duplicate
    assert f["status_exact"], f
    assert f["uplink_count"] == n and f["phantom_missed"] == 0 and f["wrong_last_f_cnt"] == 0


_STARTED: list[Ingest] = []


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    """A failing test must not leave a supervisor (and its workers) running."""
    yield
    while _STARTED:
        ing = _STARTED.pop()
        if ing.proc is not None and ing.proc.poll() is None:
            ing.proc.terminate()
            try:
                ing.proc.wait(60)
            except subprocess.TimeoutExpired:
                ing.proc.kill()


def _setup(
    broker: Mosquitto, influxd: Influxd, pg: Postgres, tmp_path: Path
) -> tuple[str, str, Ingest]:
    db = "scale_" + uuid.uuid4().hex[:8]
    influxd.create_database(db)
    dsn = pg.create_database("reg_" + uuid.uuid4().hex[:8])
    ingest = Ingest(_env(broker, influxd, db, dsn, tmp_path / "data"), tmp_path / "ingest.log")
    _STARTED.append(ingest)
    return db, dsn, ingest


# -- 1. kill -9 of one worker ------------------------------------------------------------


def test_worker_killed_is_restarted_and_nothing_is_lost(
    broker: Mosquitto, influxd: Influxd, pg: Postgres, tmp_path: Path
) -> None:
    db, dsn, ingest = _setup(broker, influxd, pg, tmp_path)
    messages = stream(1000, seed=31)
    ingest.start(2)
    other = ingest.worker_pid("worker-1")
    pub = _Stream(broker.port, messages, rate=300)
    assert _wait(lambda: _uplinks(influxd, db) >= 250, 20)
    os.kill(ingest.worker_pid("worker-2"), signal.SIGKILL)
    assert _wait(lambda: "restart 1" in ingest.log_text(), 10), ingest.log_text()[-2000:]
    assert pub.join() == len(messages)
    assert_complete("kill -9 of one worker", influxd, db, dsn, messages)
    assert ingest.worker_pid("worker-1") == other  # the other kept running
    text = ingest.log_text()
    assert re.search(r"worker-2 \(pid \d+\) exited with signal 9", text), text[-2000:]
    assert "[worker-2]" in text and "[worker-1]" in text  # each worker names itself
    assert ingest.stop() == 0


# -- 2. kill -9 of the supervisor --------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_supervisor_killed_takes_its_workers_and_restarts_cleanly(
    broker: Mosquitto, influxd: Influxd, pg: Postgres, tmp_path: Path
) -> None:
    db, dsn, ingest = _setup(broker, influxd, pg, tmp_path)
    messages = stream(1000, seed=32)
    ingest.start(2)
    # a second supervisor on the same data dir is refused, naming the running one
    second = subprocess.run(
        [sys.executable, "-m", "lorawan_monitor.cli", "ingest", "--workers", "2"],
        env=ingest.env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert ingest.proc is not None
    assert second.returncode == 2, second.stderr.decode()[-2000:]
    assert f"pid {ingest.proc.pid}" in second.stderr.decode()
    workers = ingest.children()
    assert len(workers) == 2
    pub = _Stream(broker.port, messages, rate=300)
    assert _wait(lambda: _uplinks(influxd, db) >= 250, 20)
    ingest.proc.send_signal(signal.SIGKILL)
    ingest.proc.wait(10)
    assert _wait(lambda: not any(_alive(p) for p in workers), 30), "orphaned workers"
    ingest.start(2)  # a new start works: lock free, sessions resumed
    assert ingest.new_log().count("session resumed") >= 2, ingest.new_log()[-2000:]
    assert pub.join() == len(messages)
    assert_complete("kill -9 of the supervisor", influxd, db, dsn, messages)
    assert ingest.stop() == 0


# -- 3. PostgreSQL stopped mid-stream ----------------------------------------------------


def test_registry_outage_delays_the_journal_but_loses_nothing(
    broker: Mosquitto, influxd: Influxd, pg: Postgres, tmp_path: Path
) -> None:
    db, dsn, ingest = _setup(broker, influxd, pg, tmp_path)
    rate = 200.0
    messages = stream(int(rate * (PG_OUTAGE_S + 4)), seed=33)
    ingest.start(2)
    pub = _Stream(broker.port, messages, rate=rate)
    assert _wait(lambda: registry_state(dsn)[0] >= 200, 20)
    pg.stop()
    try:
        time.sleep(PG_OUTAGE_S)
        # the readings go on while the registry is down
        during = _uplinks(influxd, db)
        assert during > 200 + rate * PG_OUTAGE_S / 2, during
    finally:
        pg.start()
    assert pub.join() == len(messages)
    assert_complete(f"PostgreSQL stopped {PG_OUTAGE_S:.0f} s", influxd, db, dsn, messages)
    text = ingest.log_text()
    for w in ("worker-1", "worker-2"):
        lines = [ln for ln in text.splitlines() if f"[{w}]" in ln]
        down = [ln for ln in lines if "registry unavailable" in ln]
        back = [ln for ln in lines if "registry is back" in ln]
        assert len(down) == 1 and len(back) == 1, (w, down, back)
    warnings = [ln for ln in text.splitlines() if " WARNING " in ln or " ERROR " in ln]
    assert len(warnings) < 20, warnings[:30]  # once per outage, not once per batch
    assert ingest.stop() == 0


# -- 4. 3 -> 2 -> 3 workers mid-stream ---------------------------------------------------


def test_scaling_down_and_up_midstream_strands_nothing(
    broker: Mosquitto, influxd: Influxd, pg: Postgres, tmp_path: Path
) -> None:
    db, dsn, ingest = _setup(broker, influxd, pg, tmp_path)
    messages = stream(2000, seed=34)
    ingest.start(3)
    pub = _Stream(broker.port, messages, rate=250)
    assert _wait(lambda: _uplinks(influxd, db) >= 300, 20)
    assert ingest.stop() == 0
    ingest.start(2)
    assert "draining 1 retired broker session" in ingest.new_log(), ingest.new_log()[-3000:]
    assert re.search(r"\[drain-worker-3\].*drained", ingest.new_log()), ingest.new_log()[-3000:]
    at_two = _uplinks(influxd, db)
    assert _wait(lambda: _uplinks(influxd, db) >= at_two + 200, 20)
    assert ingest.stop() == 0
    ingest.start(3)
    assert "draining" not in ingest.new_log()
    assert pub.join() == len(messages)
    assert_complete("3 -> 2 -> 3 workers", influxd, db, dsn, messages)
    assert ingest.stop() == 0


# -- 5. a host leaves the share group ----------------------------------------------------


def _session_present(port: int, client_id: str) -> bool:
    """Does the broker still hold a session for ``client_id``? (connects and leaves it)"""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    got = threading.Event()
    present: list[bool] = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)

    def on_connect(*args: Any) -> None:
        present.append(bool(args[2].session_present))
        got.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", port, clean_start=False)
    c.loop_start()
    try:
        assert got.wait(10)
    finally:
        c.disconnect()
        c.loop_stop()
    return present[0]


def test_leave_drains_what_the_broker_queued_and_ends_the_sessions(
    broker: Mosquitto, influxd: Influxd, pg: Postgres, tmp_path: Path
) -> None:
    db, dsn, ingest = _setup(broker, influxd, pg, tmp_path)
    messages = stream(600, seed=35)
    ingest.start(2)
    assert ingest.stop() == 0  # stopped, not left: the sessions stay in the group
    pub = Publisher("127.0.0.1", broker.port, client_id="pub-" + uuid.uuid4().hex[:8])
    pub.publish(messages)  # queued by the broker for the two stopped workers
    pub.close()
    leave = subprocess.run(
        [sys.executable, "-m", "lorawan_monitor.cli", "ingest", "--leave"],
        env=ingest.env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    err = leave.stderr.decode()
    assert leave.returncode == 0, err[-3000:]
    assert "2 broker sessions drained" in err, err[-3000:]
    assert_complete("ingest --leave", influxd, db, dsn, messages)
    base = ingest.env["LORAWAN_MQTT__CLIENT_ID"]
    assert not _session_present(broker.port, f"{base}-1")
    assert not _session_present(broker.port, f"{base}-2")
