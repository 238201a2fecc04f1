"""Fault injection with real servers: nothing published at QoS 1 is lost (issue #6).

Each scenario publishes a ChirpStack v4 stream from the simulator at QoS 1 (The Things
Stack itself publishes at QoS 0 only; its gaps are covered by test_refill_standin.py),
breaks something mid-stream, and then compares InfluxDB point by point — values and
timestamps — with what the simulator published: missing == extra == wrong == 0.

1. influxd stopped (SIGTERM / SIGKILL) mid-stream and started again
2. ``lorawan-monitor ingest`` killed with SIGKILL mid-stream and restarted
   (persistent MQTT 5 session, fixed client id, fixed data dir)
3. mosquitto restarted mid-stream (its persistence keeps session and queue)
4. the full-buffer policy with a tiny buffer while influxd is down

Figures (published, stored, duplicates, lost) are logged at INFO
(``pytest --log-cli-level=INFO``).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import REGISTRY

from ingest.service import IngestService
from simulator.fleet import SimMessage, default_fleet, generate
from simulator.publisher import Publisher
from storage.influx import InfluxStore
from tests.integration.helpers import (
    count_points,
    diff,
    expected_points,
    influx_points,
    settings_for,
)
from tests.servers import Influxd, Mosquitto, running_influxd, running_mosquitto

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]


# -- helpers ---------------------------------------------------------------------------


# tests/servers.py writes the broker's persistence file into a root-only temporary
# directory; mosquitto started as root drops to the "mosquitto" user and then cannot save
# it ("Error saving in-memory database ... Permission denied"), so a restart would lose
# sessions and queues. Staying root (ignored when not started as root) keeps persistence.
PERSISTENT = "user root\n"


def _stream(count: int, seed: int) -> list[SimMessage]:
    fleet = default_fleet(8, networks=("chirpstack",))
    return list(generate(fleet, count=count, seed=seed))


def _wait(pred: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def _uplinks_stored(influxd: Influxd, db: str) -> int:
    try:
        return count_points(influxd, db, "lorawan_uplink", "f_cnt")
    except Exception:  # influxd restarting, database not created yet
        return -1


def _assert_exact(
    influxd: Influxd, db: str, messages: Sequence[SimMessage], what: str, **figures: int
) -> None:
    expected = expected_points(messages)
    got = influx_points(influxd, db, {k[0] for k in expected})
    d = diff(expected, got)
    stored = _uplinks_stored(influxd, db)
    log.info(
        "%s: uplinks expected %d, stored %d, points expected %d, in InfluxDB %d, lost %d, %s",
        what,
        len(messages),
        stored,
        len(expected),
        len(got),
        d["missing"],
        ", ".join(f"{k} {v}" for k, v in figures.items()),
    )
    assert d["missing"] == 0 and d["extra"] == 0 and d["n_wrong"] == 0, repr(d)
    assert stored == len(messages)  # one radio point per uplink: duplicates overwrote themselves


def _counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class _RatePublisher:
    """Publishes in a background thread at a rate (the simulator's Publisher, QoS 1)."""

    def __init__(self, port: int, messages: Sequence[SimMessage], rate: float) -> None:
        self.pub = Publisher("127.0.0.1", port, client_id="sim-" + uuid.uuid4().hex[:8])
        self.sent = 0
        self._messages = messages
        self._rate = rate
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.sent = self.pub.publish(self._messages, rate=self._rate)
        except BaseException as exc:  # surfaced in join()
            self._error = exc

    def join(self, timeout: float = 60) -> int:
        self._thread.join(timeout)
        self.pub.close()
        if self._error is not None:
            raise self._error
        assert not self._thread.is_alive(), "publisher did not finish"
        return self.sent


class _ResumingPublisher:
    """QoS-1 publisher that survives a broker restart: persistent session, paho keeps
    unacknowledged messages and resends them after reconnecting; we count PUBACKs."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id="sim-resume-" + uuid.uuid4().hex[:8],
            protocol=mqtt.MQTTv311,
            clean_session=False,
        )
        self.client.reconnect_delay_set(1, 1)
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port, keepalive=5)
        self.infos: list[mqtt.MQTTMessageInfo] = []
        self._acked: set[int] = set()
        self.client.on_publish = lambda c, u, mid, rc, p: self._acked.add(mid)
        self.client.loop_start()

    def publish(self, messages: Sequence[SimMessage], rate: float) -> None:
        t0 = time.monotonic()
        for i, msg in enumerate(messages):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.infos.append(self.client.publish(msg.topic, msg.payload, qos=1))

    def acknowledged(self) -> int:
        # (MQTTMessageInfo.is_published() raises for messages queued while disconnected)
        return sum(1 for i in self.infos if i.mid in self._acked)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- 1. influxd down -------------------------------------------------------------------


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_influxd_outage_midstream_loses_nothing(
    mosquitto: Mosquitto, tmp_path: Path, kill: bool
) -> None:
    db = "faults"
    messages = _stream(900, seed=11)
    first, second, third = messages[:300], messages[300:600], messages[600:]
    with running_influxd() as influxd:
        settings = settings_for(mosquitto.port, influxd.url, db, tmp_path)
        service = IngestService(settings, store=InfluxStore(settings.influx))
        service.start()
        try:
            assert service.transport is not None
            assert service.transport.wait_subscribed(10)  # type: ignore[attr-defined]
            pub = Publisher("127.0.0.1", mosquitto.port, client_id="sim-" + uuid.uuid4().hex[:8])
            pub.publish(first, rate=600)
            assert _wait(lambda: _uplinks_stored(influxd, db) == len(first), 20)
            assert service.state.sink_ok

            influxd.stop(kill=kill)
            pub.publish(second, rate=600)
            assert _wait(lambda: service.received >= 600, 20)
            assert _wait(lambda: service.buffer.depth > 0 and not service.state.sink_ok, 20)
            assert not service.state.ready()[0]
            depth_down = service.buffer.depth
            pub.publish(third[:150], rate=600)  # ingest goes on taking messages
            assert _wait(lambda: service.buffer.depth > depth_down, 20)
            peak = service.buffer.depth
            # readiness shows how old the oldest unwritten point is
            assert _wait(lambda: service.state.buffer_oldest_age > 0.5, 10)

            influxd.start()
            pub.publish(third[150:], rate=600)
            pub.close()
            assert service.wait_idle(45), service.buffer.stats()
            assert _wait(lambda: service.state.sink_ok, 5)
            assert _wait(lambda: service.state.buffer_oldest_age == 0.0, 5)
            _assert_exact(
                influxd,
                db,
                messages,
                f"influxd {'SIGKILL' if kill else 'SIGTERM'} outage",
                received=service.received,
                duplicates=service.received - len(messages),
                buffer_peak_points=peak,
            )
            assert service.buffer.dropped == 0
        finally:
            service.stop()


# -- 2. kill -9 of the ingest process -----------------------------------------------------


class _IngestProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        out = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lorawan_monitor.cli", "ingest"],
            env=self.env,
            cwd=ROOT,
            stdout=out,
            stderr=out,
        )
        out.close()

        def subscribed() -> bool:
            assert self.proc is not None
            assert self.proc.poll() is None, self.log_path.read_text()[-2000:]
            return "subscribed to" in self.log_path.read_text()[offset:]

        assert _wait(subscribed, 30), self.log_path.read_text()[-2000:]

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(30)


@pytest.fixture
def verbose_mosquitto() -> Iterator[Mosquitto]:
    """A broker of our own that logs every PUBLISH (to count redeliveries: ``d1``)."""
    with running_mosquitto(extra_conf=PERSISTENT + "log_type all\nlog_dest stderr\n") as broker:
        yield broker


def test_ingest_sigkill_midstream_loses_nothing(
    verbose_mosquitto: Mosquitto, influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    client_id = "ingest-kill-" + uuid.uuid4().hex[:6]
    env = {
        **os.environ,
        "LORAWAN_MQTT__HOST": "127.0.0.1",
        "LORAWAN_MQTT__PORT": str(verbose_mosquitto.port),
        "LORAWAN_MQTT__CLIENT_ID": client_id,
        "LORAWAN_MQTT__QOS": "1",
        "LORAWAN_MQTT__SESSION_EXPIRY": "3600",
        "LORAWAN_MQTT__RECONNECT_MIN_DELAY": "1",
        "LORAWAN_INFLUX__URL": influxd.url,
        "LORAWAN_INFLUX__DATABASE": influx_db,
        "LORAWAN_INFLUX__FLUSH_INTERVAL": "0.2",
        "LORAWAN_STORAGE__DATA_DIR": str(tmp_path / "data"),
    }
    ingest = _IngestProcess(env, tmp_path / "ingest.log")
    messages = _stream(1500, seed=12)
    ingest.start()
    pub = _RatePublisher(verbose_mosquitto.port, messages, rate=500)
    assert _wait(lambda: _uplinks_stored(influxd, influx_db) >= 200, 20)
    stored_at_kill = _uplinks_stored(influxd, influx_db)
    assert ingest.signal(signal.SIGKILL) == -signal.SIGKILL
    time.sleep(1.0)  # the stream goes on; the broker queues for the persistent session
    ingest.start()
    assert "session resumed" in ingest.log_path.read_text()
    assert pub.join() == len(messages)
    assert _wait(lambda: _uplinks_stored(influxd, influx_db) == len(messages), 40)
    assert ingest.signal(signal.SIGTERM) == 0
    broker_log = (verbose_mosquitto.workdir / "mosquitto.log").read_text(errors="replace")
    redelivered = broker_log.count(f"Sending PUBLISH to {client_id} (d1")
    assert stored_at_kill < len(messages)  # the kill really was mid-stream
    _assert_exact(
        influxd,
        influx_db,
        messages,
        "ingest SIGKILL",
        stored_before_kill=stored_at_kill,
        redelivered_by_broker=redelivered,
    )


# -- 3. mosquitto restarted ------------------------------------------------------------


def test_mosquitto_restart_midstream_loses_nothing(
    influxd: Influxd, influx_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.transport.mqtt")
    messages = _stream(1200, seed=13)
    with running_mosquitto(extra_conf=PERSISTENT) as broker:
        settings = settings_for(
            broker.port,
            influxd.url,
            influx_db,
            tmp_path,
            mqtt={"reconnect_min_delay": 1, "reconnect_max_delay": 1},
        )
        service = IngestService(settings, store=InfluxStore(settings.influx))
        service.start()
        try:
            assert service.transport is not None
            assert service.transport.wait_subscribed(10)  # type: ignore[attr-defined]
            pub = _ResumingPublisher(broker.port)
            t = threading.Thread(target=pub.publish, args=(messages, 400), daemon=True)
            t.start()
            assert _wait(lambda: service.received >= 300, 20)
            broker.restart()  # SIGTERM: mosquitto saves sessions and queues to disk
            log_text = (broker.workdir / "mosquitto.log").read_text(errors="replace")
            assert "Error saving" not in log_text, log_text[-500:]
            restarted_at = service.received
            assert _wait(lambda: service.state.mqtt_connected, 20)
            t.join(30)
            assert _wait(lambda: "(session resumed)" in caplog.text, 10), caplog.text
            assert _wait(lambda: pub.acknowledged() == len(messages), 30), pub.acknowledged()
            ok = _wait(lambda: _uplinks_stored(influxd, influx_db) == len(messages), 40)
            assert ok, (
                service.received,
                _uplinks_stored(influxd, influx_db),
                pub.acknowledged(),
                service.buffer.stats(),
                dict(service.outcomes),
            )
            assert service.wait_idle(20)
            pub.close()
            assert restarted_at < len(messages)
            _assert_exact(
                influxd,
                influx_db,
                messages,
                "mosquitto restart",
                acknowledged_by_broker=pub.acknowledged(),
                received=service.received,
                duplicates=service.received - len(messages),
            )
        finally:
            service.stop()


# -- 4. the buffer is full ----------------------------------------------------------------


@pytest.mark.parametrize("policy", ["drop_oldest", "reject_new"])
def test_full_buffer_policy_counts_and_keeps_the_right_points(
    mosquitto: Mosquitto, tmp_path: Path, policy: str
) -> None:
    # LHT65 devices only: every uplink is 4 points (3 readings + the radio point)
    fleet = [d for d in default_fleet(16, networks=("chirpstack",)) if d.behaviour == "lht65"]
    messages = list(generate(fleet, count=400, seed=14))
    per_uplink, limit = 4, 1000
    keep = limit // per_uplink
    db = "full"
    with running_influxd() as influxd:
        influxd.create_database(db)
        influxd.stop()
        settings = settings_for(
            mosquitto.port,
            influxd.url,
            db,
            tmp_path,
            storage={"buffer_max_points": limit, "buffer_full_policy": policy},
        )
        # one message per buffer chunk, so the policy works at uplink granularity
        service = IngestService(settings, store=InfluxStore(settings.influx), chunk_size=1)
        dropped_before = _counter("lorawan_dropped_total", reason="buffer_full")
        service.start()
        try:
            assert service.transport is not None
            assert service.transport.wait_subscribed(10)  # type: ignore[attr-defined]
            pub = Publisher("127.0.0.1", mosquitto.port, client_id="sim-" + uuid.uuid4().hex[:8])
            pub.publish(messages)
            pub.close()
            assert _wait(lambda: service._processed >= len(messages), 30)
            dropped = (len(messages) - keep) * per_uplink
            assert service.buffer.dropped == dropped
            assert _counter("lorawan_dropped_total", reason="buffer_full") - dropped_before == (
                dropped
            )
            assert service.buffer.depth == limit
            assert not service.state.ready()[0]  # buffer above 90 % and store down

            influxd.start()
            assert service.wait_idle(45), service.buffer.stats()
            survivors = messages[-keep:] if policy == "drop_oldest" else messages[:keep]
            _assert_exact(
                influxd,
                db,
                survivors,
                f"full buffer ({policy})",
                published=len(messages),
                dropped_points=service.buffer.dropped,
            )
        finally:
            service.stop()
