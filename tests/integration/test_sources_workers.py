"""``ingest --workers 2`` with two sources (#16), real parts: two mosquittos, influxd, the
supervisor and its workers as processes.

Broker A carries The Things Stack's uplinks (a TTS source: MQTT 3.1.1, no shared
subscriptions), broker B ChirpStack's (MQTT 5, ``$share``). The TTS source must be served
by exactly one worker (else every worker would store every uplink), the ChirpStack source
by both through the share group; every uplink is stored exactly once, counted per worker
by the workers' own metrics (InfluxDB's idempotent writes would hide a duplicate), and the
registry names the source each device came through."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulator.fleet import SimMessage, default_fleet, generate
from simulator.publisher import Publisher
from storage.registry import SqlRegistry
from tests.integration.helpers import count_points, diff, expected_points, influx_points
from tests.servers import Influxd, Mosquitto, free_port

pytestmark = pytest.mark.integration


def _broker() -> Iterator[Mosquitto]:
    with tempfile.TemporaryDirectory(prefix="lm-mosquitto-") as d:
        broker = Mosquitto(port=free_port(), workdir=Path(d), extra_conf="user root\n")
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()


@pytest.fixture
def broker_tts() -> Iterator[Mosquitto]:
    yield from _broker()


@pytest.fixture
def broker_cs() -> Iterator[Mosquitto]:
    yield from _broker()


def _two_free_ports() -> int:
    for _ in range(50):
        p = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    raise RuntimeError("no two consecutive free ports")


def _samples(port: int, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """``name``'s samples on a worker's /metrics, by their sorted labels."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def _wait(pred: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():  # type: ignore[operator]
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def _up(port: int) -> dict[str, float]:
    return {dict(k)["source"]: v for k, v in _samples(port, "lorawan_source_up").items()}


def test_two_workers_split_chirpstack_and_leave_tts_to_one(
    broker_tts: Mosquitto,
    broker_cs: Mosquitto,
    influxd: Influxd,
    influx_db: str,
    tmp_path: Path,
) -> None:
    mport = _two_free_ports()
    sources = [
        {"name": "tts-umwelt", "kind": "tts", "host": "127.0.0.1", "port": broker_tts.port},
        {"name": "stadtwerke", "kind": "chirpstack", "host": "127.0.0.1", "port": broker_cs.port},
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
    env.update(
        LORAWAN_SOURCES=json.dumps(sources),
        LORAWAN_MQTT__CLIENT_ID=f"sw-{tmp_path.name}"[:40],
        LORAWAN_STORAGE__DATA_DIR=str(tmp_path / "data"),
        LORAWAN_INGEST__METRICS_PORT=str(mport),
        LORAWAN_INFLUX__URL=influxd.url,
        LORAWAN_INFLUX__DATABASE=influx_db,
        LORAWAN_INFLUX__FLUSH_INTERVAL="0.2",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "lorawan_monitor.cli", "ingest", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ok = _wait(
            lambda: (
                _up(mport) == {"tts-umwelt": 1.0, "stadtwerke": 1.0}
                and _up(mport + 1) == {"stadtwerke": 1.0}
            ),
            60,
        )
        if not ok:
            proc.terminate()
            raise AssertionError(proc.communicate(timeout=30)[1].decode()[-3000:])
        time.sleep(1.0)  # both share-group members subscribed at the broker
        tts: list[SimMessage] = list(
            generate(default_fleet(4, networks=("tts",)), count=120, seed=31)
        )
        # other devices (other DevEUIs) on the ChirpStack: sim-...-004 .. 007
        cs_fleet = default_fleet(8, networks=("chirpstack",))[4:]
        cs: list[SimMessage] = list(generate(cs_fleet, count=240, seed=32))
        for broker, msgs in ((broker_tts, tts), (broker_cs, cs)):
            pub = Publisher("127.0.0.1", broker.port, client_id=f"pub-{broker.port}")
            pub.publish(msgs)
            pub.close()
        total = len(tts) + len(cs)
        assert _wait(
            lambda: count_points(influxd, influx_db, "lorawan_uplink", "f_cnt") >= total, 60
        ), count_points(influxd, influx_db, "lorawan_uplink", "f_cnt")
        expected = expected_points([*tts, *cs])
        got = influx_points(influxd, influx_db, {k[0] for k in expected})
        d = diff(expected, got)
        assert d["missing"] == 0 and d["extra"] == 0 and d["n_wrong"] == 0, repr(d)

        def stored(port: int, source: str) -> float:
            key = (("outcome", "stored"), ("reason", "uplink"), ("source", source))
            return _samples(port, "lorawan_messages_total").get(key, 0.0)

        assert _wait(
            lambda: (
                stored(mport, "tts-umwelt")
                + stored(mport, "stadtwerke")
                + stored(mport + 1, "stadtwerke")
                >= total
            ),
            30,
        )
        # exactly once: the TTS source all in worker 1, none in worker 2 ...
        assert stored(mport, "tts-umwelt") == len(tts)
        assert stored(mport + 1, "tts-umwelt") == 0
        received_2 = _samples(mport + 1, "lorawan_source_messages_total")
        assert (("source", "tts-umwelt"),) not in received_2, received_2
        # ... the ChirpStack split over both, each uplink in one of them
        split = [stored(mport, "stadtwerke"), stored(mport + 1, "stadtwerke")]
        assert sum(split) == len(cs) and all(n > 0 for n in split), split
        # the radio points name their source
        res = influxd.query(
            'SHOW TAG VALUES FROM "lorawan_uplink" WITH KEY = "source"', db=influx_db
        )
        values = {v[1] for v in res["results"][0]["series"][0]["values"]}
        assert values == {"tts-umwelt", "stadtwerke"}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    reg = SqlRegistry(f"sqlite:///{tmp_path / 'data' / 'registry.db'}")
    try:
        devices, n = reg.list_devices(limit=100)
        assert n == 8
        came = {d.device_id: (d.source, d.source_name) for d in devices}
        assert sorted(set(came.values())) == [("chirpstack", "stadtwerke"), ("tts", "tts-umwelt")]
        assert sum(d.uplink_count for d in devices) == total
    finally:
        reg.close()


def _session_present(port: int, client_id: str) -> bool:
    """Does the broker still hold a session for ``client_id``? (connects and ends it)"""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    got = threading.Event()
    present: list[bool] = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)

    def on_connect(*args: object) -> None:
        present.append(bool(args[2].session_present))  # type: ignore[attr-defined]
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


def _drain_setup(
    prefix: str,
    broker_tts: Mosquitto,
    broker_cs: Mosquitto,
    influxd: Influxd,
    influx_db: str,
    tmp_path: Path,
) -> tuple[int, str, Callable[[int], subprocess.Popen[bytes]]]:
    """The scale-down tests' ingest: a TTS and a ChirpStack source, influxd; returns the
    first metrics port, the base client id and ``start(workers)``."""
    mport = _two_free_ports()
    sources = [
        {"name": "tts-umwelt", "kind": "tts", "host": "127.0.0.1", "port": broker_tts.port},
        {"name": "stadtwerke", "kind": "chirpstack", "host": "127.0.0.1", "port": broker_cs.port},
    ]
    base = f"{prefix}-{tmp_path.name}"[:40]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
    env.update(
        LORAWAN_SOURCES=json.dumps(sources),
        LORAWAN_MQTT__CLIENT_ID=base,
        LORAWAN_STORAGE__DATA_DIR=str(tmp_path / "data"),
        LORAWAN_INGEST__METRICS_PORT=str(mport),
        LORAWAN_INFLUX__URL=influxd.url,
        LORAWAN_INFLUX__DATABASE=influx_db,
        LORAWAN_INFLUX__FLUSH_INTERVAL="0.2",
    )

    def start(workers: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "lorawan_monitor.cli", "ingest", "--workers", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    return mport, base, start


def _two_workers_then_stopped(start: Callable[[int], subprocess.Popen[bytes]], mport: int) -> None:
    """``--workers 2`` until both workers serve their sources (the TTS one only worker 1),
    then stopped: their persistent sessions stay on the brokers."""
    proc = start(2)
    try:
        ok = _wait(
            lambda: (
                _up(mport) == {"tts-umwelt": 1.0, "stadtwerke": 1.0}
                and _up(mport + 1) == {"stadtwerke": 1.0}
            ),
            60,
        )
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=90)
    assert ok and proc.returncode == 0, err.decode()[-3000:]


def test_scale_down_drains_every_source_session_of_the_retired_workers(
    broker_tts: Mosquitto,
    broker_cs: Mosquitto,
    influxd: Influxd,
    influx_db: str,
    tmp_path: Path,
) -> None:
    """2 workers -> stopped -> uplinks queue in their sessions on both brokers (the
    ChirpStack's split over both workers' shared subscriptions) -> 1 process: the drain
    takes every queued uplink from each source's session, stores it once, ends the
    sessions. The new process receives none of them (its client ids are new)."""
    mport, base, start = _drain_setup("sd", broker_tts, broker_cs, influxd, influx_db, tmp_path)

    _two_workers_then_stopped(start, mport)
    tts = list(generate(default_fleet(4, networks=("tts",)), count=80, seed=41))
    cs = list(generate(default_fleet(8, networks=("chirpstack",))[4:], count=200, seed=42))
    for broker, msgs in ((broker_tts, tts), (broker_cs, cs)):
        pub = Publisher("127.0.0.1", broker.port, client_id=f"pub-{broker.port}")
        pub.publish(msgs)  # queued for the stopped workers' sessions
        pub.close()
    total = len(tts) + len(cs)

    proc = start(1)
    try:
        assert _wait(lambda: _up(mport) == {"tts-umwelt": 1.0, "stadtwerke": 1.0}, 90)
        assert _wait(
            lambda: count_points(influxd, influx_db, "lorawan_uplink", "f_cnt") >= total, 30
        ), count_points(influxd, influx_db, "lorawan_uplink", "f_cnt")
        expected = expected_points([*tts, *cs])
        got = influx_points(influxd, influx_db, {k[0] for k in expected})
        d = diff(expected, got)
        assert d["missing"] == 0 and d["extra"] == 0 and d["n_wrong"] == 0, repr(d)
        # the new process got none of them: they came through the drains
        stored = _samples(mport, "lorawan_messages_total")
        assert sum(v for k, v in stored.items() if ("outcome", "stored") in k) == 0, stored
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    log = err.decode()
    assert proc.returncode == 0, log[-3000:]
    # each drain says how many messages it took over: together every uplink, once
    drained = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"drained (\S+): (\d+) messages, nothing left behind", log)
    }
    assert set(drained) == {f"{base}-1", f"{base}-2"}, log[-3000:]
    assert sum(drained.values()) == total, (drained, log[-3000:])
    assert drained[f"{base}-2"] > 0, drained  # worker 2 had its share of the ChirpStack's
    assert "not drained" not in log and "did not finish" not in log, log[-3000:]
    layout = json.loads((tmp_path / "data" / "ingest-members.json").read_text())
    assert layout["retired"] == [], layout
    # none left in worker 2's (or worker 1's) session on the ChirpStack broker
    assert not _session_present(broker_cs.port, f"{base}-2-stadtwerke")
    assert not _session_present(broker_cs.port, f"{base}-1-stadtwerke")
    reg = SqlRegistry(f"sqlite:///{tmp_path / 'data' / 'registry.db'}")
    try:
        devices, n = reg.list_devices(limit=100)
        assert n == 8
        assert sum(d.uplink_count for d in devices) == total
    finally:
        reg.close()


def test_a_source_broker_down_at_the_drain_is_drained_at_the_next_start(
    broker_tts: Mosquitto,
    broker_cs: Mosquitto,
    influxd: Influxd,
    influx_db: str,
    tmp_path: Path,
) -> None:
    """As above, but the TTS broker is down when ``--workers 1`` starts: the ChirpStack
    sessions are drained, worker 1 (which held the TTS session) stays recorded as retired;
    the next start, with the broker back, drains what it queued there."""
    mport, base, start = _drain_setup("dd", broker_tts, broker_cs, influxd, influx_db, tmp_path)

    def finish(proc: subprocess.Popen[bytes]) -> str:
        proc.terminate()
        _, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err.decode()[-3000:]
        return err.decode()

    def drained(log: str) -> dict[str, int]:
        return {
            m.group(1): int(m.group(2)) for m in re.finditer(r"drained (\S+): (\d+) messages", log)
        }

    def points() -> int:
        return count_points(influxd, influx_db, "lorawan_uplink", "f_cnt")

    _two_workers_then_stopped(start, mport)
    tts = list(generate(default_fleet(4, networks=("tts",)), count=60, seed=51))
    cs = list(generate(default_fleet(8, networks=("chirpstack",))[4:], count=160, seed=52))
    for broker, msgs in ((broker_tts, tts), (broker_cs, cs)):
        pub = Publisher("127.0.0.1", broker.port, client_id=f"pub-{broker.port}")
        pub.publish(msgs)
        pub.close()
    broker_tts.stop()

    proc = start(1)
    try:
        assert _wait(lambda: _up(mport).get("stadtwerke") == 1.0, 120)
        assert _wait(lambda: points() >= len(cs), 30), points()
    finally:
        log1 = finish(proc)
    assert "drain: source 'tts-umwelt'" in log1 and "not reachable" in log1, log1[-3000:]
    first = drained(log1)
    assert set(first) == {f"{base}-1", f"{base}-2"}, log1[-3000:]
    assert sum(first.values()) == len(cs), (first, log1[-3000:])  # every ChirpStack uplink
    layout = json.loads((tmp_path / "data" / "ingest-members.json").read_text())
    assert [m["name"] for m in layout["retired"]] == ["worker-1"], layout
    assert not _session_present(broker_cs.port, f"{base}-2-stadtwerke")

    broker_tts.start()  # back, with the session it kept (persistence)
    proc = start(1)
    try:
        assert _wait(lambda: _up(mport) == {"tts-umwelt": 1.0, "stadtwerke": 1.0}, 90)
        assert _wait(lambda: points() >= len(tts) + len(cs), 30), points()
        expected = expected_points([*tts, *cs])
        got = influx_points(influxd, influx_db, {k[0] for k in expected})
        d = diff(expected, got)
        assert d["missing"] == 0 and d["extra"] == 0 and d["n_wrong"] == 0, repr(d)
        stored = _samples(mport, "lorawan_messages_total")
        assert sum(v for k, v in stored.items() if ("outcome", "stored") in k) == 0, stored
    finally:
        log2 = finish(proc)
    second = drained(log2)
    assert second == {f"{base}-1": len(tts)}, (second, log2[-3000:])
    layout = json.loads((tmp_path / "data" / "ingest-members.json").read_text())
    assert layout["retired"] == [], layout
    reg = SqlRegistry(f"sqlite:///{tmp_path / 'data' / 'registry.db'}")
    try:
        devices, _ = reg.list_devices(limit=100)
        assert sum(d.uplink_count for d in devices) == len(tts) + len(cs)
    finally:
        reg.close()
