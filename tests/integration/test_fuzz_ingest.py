"""System-level fuzz test of the ingest (#11): hostile and broken MQTT messages, for every
envelope kind, through a real mosquitto into two real IngestServices — one writing to the
embedded SQLite store, one to a real influxd — interleaved with good uplinks.

Hypothesis generates whole messages: valid envelopes from ``simulator/envelopes/`` with
one field replaced by a hostile value (quotes, backslashes, control characters, lone
surrogates, huge or negative integers, implausible times, deep or large objects, wrong
types), hostile application/device names in topic and payload, and garbage (random bytes,
random JSON, truncated messages). After each batch the invariants must hold:

* every message ends as exactly one outcome with a reason;
* every good uplink's points are in both stores and its registry journal entry and
  status land (``last_seen`` is the newest good uplink);
* the writers keep writing (the buffers drain, nothing is stuck);
* no device's ``last_seen`` moves backwards or beyond the allowed future skew;
* dead letters and buffer files stay within their byte bounds.

Default run: ``FUZZ_EXAMPLES`` batches (12; a few seconds). Long run: ``make fuzz``
(``FUZZ_EXAMPLES=3000`` or more).
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from ingest.service import WRITER_TOPIC, IngestService
from lorawan_monitor.settings import Settings
from simulator.envelopes import chirpstack_uplink, chirpstack_v3_uplink, tts_uplink
from storage.base import TimeSeriesStore
from storage.influx import InfluxStore
from storage.registry import SqlRegistry
from storage.sqlite import SqliteStore
from tests.integration.helpers import settings_for
from tests.servers import Influxd, Mosquitto

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
LHT65 = bytes.fromhex("CBF60B0D0376010ADD7FFF")  # TTN Device Repository example
CS_APP = "5d1e0a3c-6f8b-4c1e-9a3d-2b7c9e1f0a11"
SKEW_S = 600.0
DEAD_BYTES = 1_000_000
MAX_MESSAGE = 65_536
KINDS = ("tts", "chirpstack", "chirpstack-v3")
#: one good device per kind (never touched by hostile messages) and one victim per kind
#: (hostile messages carry its identity: it must never freeze)
GOOD = {
    "tts": "fuzz-good-tts",
    "chirpstack": "a84041000f0a0001",
    "chirpstack-v3": "a84041000f0b0001",
}
VICTIM = {
    "tts": "fuzz-victim",
    "chirpstack": "a84041000f0a0002",
    "chirpstack-v3": "a84041000f0b0002",
}
_seq = itertools.count(1)
#: temperature points per good uplink (the LHT65 reports internal and probe temperature)
TEMPS = 2
T_BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=24)


def _when(n: int) -> datetime:
    """Message ``n``'s time: 250 ms apart, so 345,600 messages stay in the past."""
    return T_BASE + timedelta(milliseconds=250 * n)


def build(kind: str, device: str, n: int, **over: Any) -> tuple[str, bytes]:
    """A decodable uplink of ``kind`` for ``device``, number ``n`` (time and f_cnt grow)."""
    when = _when(n)
    if kind == "tts":
        return tts_uplink(
            application=over.get("application", "fuzz-app"),
            device_id=over.get("device_id", device),
            dev_eui=None,
            f_port=2,
            f_cnt=n,
            payload=LHT65,
            received_at=when,
            model_id="dragino/lht65",
        )
    if kind == "chirpstack":
        return chirpstack_uplink(
            application_id=CS_APP,
            application_name=over.get("application", "fuzz-app"),
            dev_eui=device,
            device_name=over.get("device_id", "lht"),
            f_port=2,
            f_cnt=n,
            payload=LHT65,
            time=when,
            device_profile_name="dragino/lht65",
        )
    return chirpstack_v3_uplink(
        application_id=7,
        application_name=over.get("application", "fuzz-app"),
        dev_eui=device,
        device_name=over.get("device_id", "lht"),
        f_port=2,
        f_cnt=n,
        payload=LHT65,
        time=when,
        marshaler="json",
        device_profile_name="dragino/lht65",
    )


# -- strategies --------------------------------------------------------------------------

SPECIAL = ['Stadtwerke 5" Nord', "trail\\", "a\nb", "", " ", "\x00", "../../etc/passwd", "=,\\ "]
SPECIAL += ["#x", "über", "\ud800", "x" * 70_000, "\\\\,", "time", "\t\r"]
TIMES = [
    "9999-12-31T23:59:59Z",
    "2262-04-12T00:00:00Z",
    "1677-09-21T00:12:43Z",
    "0001-01-01T00:00:00+01:00",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.5Z",
    "2026-13-01T00:00:00Z",
    "yesterday",
    "2020-01-01T00:00:00",
]
INTS = [2**63, 2**64, 2**32, 2**32 - 1, -1, -(2**63) - 1, 10**30, 256, 0]


def _deep(n: int) -> Any:
    d: Any = {"temperature": 1.0}
    for _ in range(n):
        d = {"x": d}
    return d


TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
HOSTILE = st.one_of(
    st.sampled_from(SPECIAL),
    TEXT,
    st.sampled_from(TIMES),
    st.sampled_from([(datetime.now(UTC) + timedelta(days=d)).isoformat() for d in (1, 400)]),
    st.sampled_from(INTS),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN / inf are written as NaN / Infinity: not JSON
    st.booleans(),
    st.none(),
    st.integers(min_value=1, max_value=400).map(_deep),
    st.integers(min_value=0, max_value=20_000).map(lambda n: list(range(n))),
    st.dictionaries(TEXT, TEXT, max_size=5),
)
PATHS = {
    "tts": [
        ("end_device_ids", "device_id"),
        ("end_device_ids", "application_ids", "application_id"),
        ("end_device_ids", "dev_eui"),
        ("received_at",),
        ("uplink_message", "received_at"),
        ("uplink_message", "f_cnt"),
        ("uplink_message", "f_port"),
        ("uplink_message", "frm_payload"),
        ("uplink_message", "decoded_payload"),
        ("uplink_message", "rx_metadata"),
        ("uplink_message", "rx_metadata", 0, "rssi"),
        ("uplink_message", "settings", "frequency"),
        ("uplink_message", "settings", "data_rate", "lora", "spreading_factor"),
        ("uplink_message", "version_ids", "model_id"),
        ("correlation_ids",),
        ("simulated",),
    ],
    "chirpstack": [
        ("time",),
        ("fCnt",),
        ("fPort",),
        ("data",),
        ("object",),
        ("deduplicationId",),
        ("deviceInfo", "applicationName"),
        ("deviceInfo", "deviceName"),
        ("deviceInfo", "deviceProfileName"),
        ("deviceInfo", "tags"),
        ("rxInfo",),
        ("rxInfo", 0, "nsTime"),
        ("rxInfo", 0, "rssi"),
        ("rxInfo", 0, "channel"),
        ("txInfo", "frequency"),
        ("txInfo", "modulation", "lora", "spreadingFactor"),
    ],
    "chirpstack-v3": [
        ("applicationName",),
        ("deviceName",),
        ("fCnt",),
        ("fPort",),
        ("data",),
        ("objectJSON",),
        ("publishedAt",),
        ("rxInfo", 0, "time"),
        ("rxInfo", 0, "loRaSNR"),
        ("txInfo", "frequency"),
        ("tags",),
        ("deviceProfileName",),
    ],
}
#: text a broker takes in a topic level: no wildcards or separators, and none of what
#: mosquitto refuses as malformed UTF-8 (control characters, non-characters)
TOPIC_TEXT = st.text(
    st.characters(
        codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn"), exclude_characters="+#/"
    ),
    min_size=1,
    max_size=30,
)


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for p in path[:-1]:
        if isinstance(obj, dict):
            obj = obj.setdefault(p, {})
        elif isinstance(obj, list) and isinstance(p, int) and p < len(obj):
            obj = obj[p]
        else:
            return
    last = path[-1]
    if isinstance(obj, dict):
        obj[last] = value
    elif isinstance(obj, list) and isinstance(last, int) and last < len(obj):
        obj[last] = value


def _dumps(msg: Any) -> bytes:
    # the stdlib writes what orjson cannot (301 levels, NaN, lone surrogates as \\ud800)
    return json.dumps(msg).encode()


@st.composite
def hostile_message(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(KINDS))
    n = next(_seq)
    how = draw(st.sampled_from(["field", "field", "field", "names", "garbage", "truncated"]))
    if how == "names":  # hostile application / device names, in topic and payload
        dev = VICTIM[kind] if kind != "tts" else draw(TOPIC_TEXT)
        return build(kind, dev, n, application=draw(TOPIC_TEXT), device_id=draw(TOPIC_TEXT))
    topic, payload = build(kind, VICTIM[kind], n)
    if how == "garbage":
        body = draw(
            st.one_of(
                st.binary(max_size=300),
                st.recursive(
                    st.none() | st.booleans() | st.integers() | TEXT,
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(TEXT, c, max_size=4),
                    max_leaves=20,
                ).map(_dumps),
            )
        )
        return topic, body
    if how == "truncated":
        # a fraction, not an index: what is drawn must not depend on the message number
        cut = draw(st.floats(min_value=0, max_value=1, exclude_max=True))
        return topic, payload[: int(cut * len(payload))]
    msg = json.loads(payload)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(PATHS[kind]))
        _set(msg, path, copy.deepcopy(draw(HOSTILE)))
    return topic, _dumps(msg)


# -- the system under test -------------------------------------------------------------


@dataclass
class Worker:
    name: str
    service: IngestService
    store: TimeSeriesStore
    registry: SqlRegistry
    data_dir: Path
    last_seen: dict[str, datetime] = field(default_factory=dict)


def _worker(name: str, s: Settings, store: TimeSeriesStore) -> Worker:
    registry = SqlRegistry(s.storage.registry_dsn())
    svc = IngestService(s, store=store, registry=registry)
    svc.start()
    assert svc.transport is not None
    assert svc.transport.wait_subscribed(10)  # type: ignore[attr-defined]
    return Worker(name, svc, store, registry, s.storage.data_dir)


@pytest.fixture
def workers(
    mosquitto: Mosquitto, influxd: Influxd, influx_db: str, tmp_path: Path
) -> Iterator[list[Worker]]:
    limits = {
        "max_future_skew_s": SKEW_S,
        "dead_letter_max_bytes": DEAD_BYTES,
        "max_message_bytes": MAX_MESSAGE,
    }
    out = []
    for name, url in (("sqlite", None), ("influx", influxd.url)):
        s = settings_for(
            mosquitto.port,
            url,
            influx_db,
            tmp_path / name,
            ingest=limits,
            influx={"flush_interval": 0.05},
        )
        store: TimeSeriesStore = (
            InfluxStore(s.influx) if url else SqliteStore(tmp_path / name / "ts.db")
        )
        out.append(_worker(name, s, store))
    yield out
    for w in out:
        w.service.stop()
        w.store.close()
        w.registry.close()


class _Pub:
    def __init__(self, port: int) -> None:
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fuzz-" + uuid.uuid4().hex[:6])
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def send(self, messages: list[tuple[str, bytes]]) -> None:
        infos = [self.c.publish(t, p, qos=1) for t, p in messages]
        for i in infos:
            i.wait_for_publish(10)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _wait(workers: list[Worker], total: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for w in workers:
        while w.service.received < total and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w.service.received >= total, (w.name, w.service.received, total)
        assert w.service.wait_idle(max(1.0, deadline - time.monotonic())), (
            w.name,
            w.service.buffer.stats(),
        )


def _good_key(kind: str) -> str:
    return f"tts:fuzz-app/{GOOD[kind]}" if kind == "tts" else GOOD[kind].upper()


def _check(workers: list[Worker], good_sent: dict[str, list[tuple[int, str]]]) -> None:
    now = datetime.now(UTC)
    for w in workers:
        svc = w.service
        # every message exactly one outcome, each with a reason
        assert sum(svc.outcomes.values()) == svc.received, (w.name, svc.outcomes)
        assert all(o and r for o, r in svc.outcomes), svc.outcomes
        # good uplinks: points in the store, journal and status in the registry
        for kind, sent in good_sent.items():
            key = _good_key(kind)
            device = GOOD[kind] if kind == "tts" else GOOD[kind]
            n_up = w.store.count("lorawan_uplink", where={"device": device})
            assert n_up == len(sent), (w.name, kind, n_up, len(sent))
            n_t = w.store.count("temperature", where={"device": device})
            assert n_t == TEMPS * len(sent), (w.name, kind, n_t, len(sent))
            journal = {e.uplink_id for e in w.registry.journal(key, limit=100_000)}
            kept = w.service.settings.storage.journal_per_device  # the journal is trimmed
            missing = [uid for _, uid in sent[-kept:] if uid not in journal]
            assert not missing, (w.name, kind, missing[:3])
            dev = w.registry.get_device(key)
            assert dev is not None and dev.last_seen == _when(sent[-1][0])
        # no device's last_seen goes backwards or beyond the skew into the future
        devices, _ = w.registry.list_devices(limit=100_000)
        for d in devices:
            if d.last_seen is None:
                continue
            assert d.last_seen <= now + timedelta(seconds=SKEW_S), (w.name, d.device_key)
            before = w.last_seen.get(d.device_key)
            assert before is None or d.last_seen >= before, (w.name, d.device_key)
            w.last_seen[d.device_key] = d.last_seen
        # bounded disk; the writer dead-lettered nothing it should have written
        stats = svc.buffer.stats()
        assert stats["depth"] == 0 and stats["dead_letter_bytes"] <= DEAD_BYTES, stats
        assert (w.data_dir / "buffer.db").stat().st_size < 64 * 1024 * 1024
        assert not [d for d in svc.buffer.dead_letters(1000) if d.topic == WRITER_TOPIC]


def _uplink_id(kind: str, payload: bytes) -> str:
    msg = json.loads(payload)
    if kind == "tts":
        return next(c for c in msg["correlation_ids"] if c.startswith("ns:uplink:"))
    if kind == "chirpstack":
        return str(msg["deduplicationId"])
    return f"{GOOD[kind]}:{msg['fCnt']}:{msg['publishedAt']}"


def test_hostile_mqtt_messages_never_cost_good_uplinks(
    workers: list[Worker], mosquitto: Mosquitto
) -> None:
    pub = _Pub(mosquitto.port)
    good_sent: dict[str, list[tuple[int, str]]] = {k: [] for k in KINDS}
    total = [0]
    stats = {"examples": 0, "hostile": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(batch=st.lists(hostile_message(), min_size=1, max_size=12), where=st.integers(0, 12))
    def run(batch: list[tuple[str, bytes]], where: int) -> None:
        messages = list(batch)
        for kind in KINDS:  # one good uplink per kind, somewhere among the hostile ones
            n = next(_seq)
            topic, payload = build(kind, GOOD[kind], n)
            good_sent[kind].append((n, _uplink_id(kind, payload)))
            messages.insert(min(where, len(messages)), (topic, payload))
        pub.send(messages)
        total[0] += len(messages)
        stats["examples"] += 1
        stats["hostile"] += len(batch)
        _wait(workers, total[0])
        _check(workers, good_sent)

    t0 = time.monotonic()
    try:
        run()
    finally:
        pub.close()
        outcomes = workers[0].service.outcomes
        print(
            f"\nfuzz: {stats['examples']} batches, {total[0]} messages "
            f"({stats['hostile']} hostile) in {time.monotonic() - t0:.0f} s; "
            f"outcomes (sqlite worker): {dict(sorted(outcomes.items()))}"
        )
