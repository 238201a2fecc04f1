"""Registry updates through the durable buffer (#20): encoded with the chunk, applied in
order by the applier, idempotent on replay, a poison record dead-lettered alone.

The registry here is the real SQLite registry; the outage with a real PostgreSQL stopped
mid-stream is in tests/integration/test_scaleout.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.buffer import DurableBuffer
from ingest.registry_queue import Battery, CodecError, RegistryApplier, Work, decode, encode
from storage.registry import SqlRegistry
from storage.registry_base import UplinkRecord

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def rec(key: str, f_cnt: int, **kw: Any) -> UplinkRecord:
    base: dict[str, Any] = {
        "device_key": key,
        "dev_eui": key,
        "device_id": "eui-" + key.lower(),
        "application": "city",
        "source": "chirpstack",
        "received_at": T0 + timedelta(minutes=f_cnt),
        "f_port": 2,
        "f_cnt": f_cnt,
        "payload": bytes([f_cnt % 256, 0xFF, 0x00]),
        "model_id": "dragino/lht65",
        "decoder": "native:dragino/lht65",
        "status": "decoded",
        "decoded": {"TempC_SHT": 21.5, "nested": {"a": [1, 2, None]}},
        "readings": (("temperature", "", 21.5),),
        "gateways": ({"gateway_id": "gw1", "rssi": -80.0, "snr": 7.0},),
        "rssi": -80.0,
        "snr": 7.0,
        "gateway_count": 1,
        "uplink_id": f"{key}-{f_cnt}",
    }
    base.update(kw)
    return UplinkRecord(**base)


def _key(i: int) -> str:
    return f"70B3D57ED000{i:04X}"


def test_encode_decode_round_trip() -> None:
    work = Work(
        records=[rec(_key(1), 1), rec(_key(2), 7, error="x", status="error", decoded=None)],
        batteries=[Battery(_key(1), T0, 87.5)],
        codec_errors=[
            CodecError(_key(2), T0, "codec failed", "up-1"),
            CodecError(_key(2), T0, "m", None),
        ],
    )
    blob, bad = encode(work)
    assert bad == []
    back = decode(blob)
    assert back.batteries == work.batteries and back.codec_errors == work.codec_errors
    for a, b in zip(back.records, work.records, strict=True):
        assert a.received_at == b.received_at and a.payload == b.payload
        assert a.decoded == b.decoded and a.uplink_id == b.uplink_id
        assert [tuple(x) for x in a.readings] == list(b.readings)
        assert [dict(g) for g in a.gateways] == list(b.gateways)


def test_unencodable_record_is_set_apart_not_its_chunk() -> None:
    poison = rec(_key(3), 3)
    poison.f_cnt = 2**70  # beyond 64 bits: JSON (and the registry) cannot hold it
    blob, bad = encode(Work(records=[rec(_key(1), 1), poison, rec(_key(2), 2)]))
    assert [b[0] for b in bad] == [poison]
    assert [r.device_key for r in decode(blob).records] == [_key(1), _key(2)]


def test_unreadable_blob_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unreadable"):
        decode(b"\x00not json")


def _applier(buf: DurableBuffer, reg: Any, **kw: Any) -> RegistryApplier:
    return RegistryApplier(buf, reg, min_backoff=0.01, max_backoff=0.05, **kw)


def _wait(pred: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return bool(pred())


def _queue(buf: DurableBuffer, records: Sequence[UplinkRecord]) -> None:
    blob, bad = encode(Work(records=list(records)))
    assert not bad
    buf.append([], (), (blob, len(records)))


def test_applier_applies_in_order_and_replay_changes_nothing(tmp_path: Path) -> None:
    buf = DurableBuffer(tmp_path / "buffer.db")
    reg = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}", journal_per_device=1000)
    for chunk in range(5):
        _queue(buf, [rec(_key(d), chunk * 10 + k) for d in range(3) for k in range(10)])
    assert buf.registry_pending == 150
    applier = _applier(buf, reg)
    applier.start()
    assert _wait(lambda: buf.registry_pending == 0)
    applier.stop()
    before = [reg.get_device(_key(d)) for d in range(3)]
    assert all(s is not None and s.uplink_count == 50 and s.fcnt_missed == 0 for s in before)
    assert all(s is not None and s.last_f_cnt == 49 for s in before)
    # a crash between applying and deleting: the same batches are applied again
    for chunk in range(5):
        _queue(buf, [rec(_key(d), chunk * 10 + k) for d in range(3) for k in range(10)])
    applier = _applier(buf, reg)
    applier.start()
    assert _wait(lambda: buf.registry_pending == 0)
    applier.stop()
    assert [reg.get_device(_key(d)) for d in range(3)] == before
    assert all(len(reg.journal(_key(d), limit=1000)) == 50 for d in range(3))
    reg.close()


class _Outage:
    """The real registry behind a switch: while ``down`` every call raises as the
    registry does when its database does not answer (fault injection, not a stand-in)."""

    def __init__(self, reg: SqlRegistry) -> None:
        self.reg, self.down, self.calls = reg, True, 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.reg, name)

        def call(*a: Any, **kw: Any) -> Any:
            self.calls += 1
            if self.down:
                from lorawan_monitor.errors import SinkUnavailableError

                raise SinkUnavailableError("registry: connection refused")
            return target(*a, **kw)

        return call


def test_registry_down_keeps_everything_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="ingest.registry_queue")
    buf = DurableBuffer(tmp_path / "buffer.db")
    reg = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}", journal_per_device=1000)
    outage = _Outage(reg)
    applier = _applier(buf, outage, max_attempts=3)
    applier.start()
    for chunk in range(4):
        _queue(buf, [rec(_key(d), chunk * 5 + k) for d in range(2) for k in range(5)])
    assert _wait(lambda: outage.calls >= 12)  # well past max_attempts: nothing dead-lettered
    assert buf.registry_pending == 40 and applier.down and applier.rejected == 0
    outage.down = False
    assert _wait(lambda: buf.registry_pending == 0)
    applier.stop()
    for d in range(2):
        s = reg.get_device(_key(d))
        assert s is not None and (s.uplink_count, s.fcnt_missed, s.last_f_cnt) == (20, 0, 19)
    down = [r for r in caplog.records if "registry unavailable" in r.getMessage()]
    back = [r for r in caplog.records if "registry is back" in r.getMessage()]
    assert len(down) == 1 and len(back) == 1
    assert buf.stats()["dead_letters"] == 0
    reg.close()


def test_poison_record_is_dead_lettered_alone(tmp_path: Path) -> None:
    buf = DurableBuffer(tmp_path / "buffer.db")
    reg = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}", journal_per_device=1000)
    good = [rec(_key(d), k) for d in range(3) for k in range(1, 6)]
    poison = rec(_key(9), 1)
    poison.f_cnt = 2**63  # fits JSON, not an SQL integer
    _queue(buf, [*good[:7], poison, *good[7:]])
    _queue(buf, [rec(_key(0), 6)])  # the next chunk is not blocked
    applier = _applier(buf, reg, max_attempts=2)
    applier.start()
    assert _wait(lambda: buf.registry_pending == 0)
    applier.stop()
    assert applier.rejected == 1
    [dead] = [d for d in buf.dead_letters() if d.reason == "registry_rejected"]
    assert dead.topic == f"registry/{_key(9)}"
    for d in range(3):
        s = reg.get_device(_key(d))
        assert s is not None and s.fcnt_missed == 0
        assert s.uplink_count == (6 if d == 0 else 5)
    reg.close()


_KILL_MID_APPLY = """
import os, signal, sys
from ingest.buffer import DurableBuffer
from ingest.registry_queue import RegistryApplier
from storage.registry import SqlRegistry
buf = DurableBuffer(sys.argv[1])
reg = SqlRegistry(sys.argv[2], journal_per_device=1000)
class Dying:
    def __getattr__(self, name):
        return getattr(reg, name)
    def record_uplinks(self, records, **kw):
        reg.record_uplinks(records, **kw)  # committed to the registry ...
        os.kill(os.getpid(), signal.SIGKILL)  # ... and gone before the buffer row is deleted
a = RegistryApplier(buf, Dying())
a.apply_once(buf.registry_peek(10_000))
"""


def test_kill_between_apply_and_delete_replays_idempotently(tmp_path: Path) -> None:
    buf_path, dsn = tmp_path / "buffer.db", f"sqlite:///{tmp_path / 'registry.db'}"
    buf = DurableBuffer(buf_path)
    SqlRegistry(dsn).close()
    _queue(buf, [rec(_key(d), k) for d in range(4) for k in range(1, 11)])
    buf.close()
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_MID_APPLY, str(buf_path), dsn],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    buf = DurableBuffer(buf_path)
    assert buf.registry_pending == 40  # still queued
    reg = SqlRegistry(dsn, journal_per_device=1000)
    applier = _applier(buf, reg)
    applier.start()
    assert _wait(lambda: buf.registry_pending == 0)
    applier.stop()
    for d in range(4):
        s = reg.get_device(_key(d))
        assert s is not None and (s.uplink_count, s.fcnt_missed, s.last_f_cnt) == (10, 0, 10)
        assert len(reg.journal(_key(d), limit=100)) == 10
    reg.close()


def test_registry_queue_is_bounded_counted_and_survives_reopening(tmp_path: Path) -> None:
    buf = DurableBuffer(tmp_path / "buffer.db", max_points=1000)
    for i in range(15):
        _queue(buf, [rec(_key(1), i * 100 + k) for k in range(100)])
    assert (buf.registry_pending, buf.registry_dropped) == (1000, 500)
    buf.close()
    buf = DurableBuffer(tmp_path / "buffer.db", max_points=1000)
    assert buf.registry_pending == 1000
    batches = buf.registry_peek(250)
    assert [b.n for b in batches] == [100, 100]  # whole batches, oldest first
    assert decode(batches[0].body).records[0].f_cnt == 500  # the five oldest went
    buf.registry_remove(batches)
    assert buf.registry_pending == 800


class _Calls:
    """The real registry, with the batches ``record_uplinks`` got recorded (a spy)."""

    def __init__(self, reg: SqlRegistry) -> None:
        self.reg = reg
        self.batches: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reg, name)

    def record_uplinks(self, records: Sequence[UplinkRecord], **kw: Any) -> None:
        self.batches.append(len(records))
        self.reg.record_uplinks(records, **kw)


def _queued(buf: DurableBuffer, applier: RegistryApplier, records: list[UplinkRecord]) -> None:
    work = Work(records=records)
    blob, bad = encode(work)
    assert not bad
    buf.append([], (), (blob, len(records)))
    applier.queued(buf.last_registry_id, work)


def test_applier_gathers_small_chunks_into_one_registry_batch(tmp_path: Path) -> None:
    """#19: below ``min_records`` the applier waits for more (one registry transaction for
    several chunks: one status row per device); a full queue is applied at once."""
    buf = DurableBuffer(tmp_path / "buffer.db")
    reg = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}", journal_per_device=1000)
    spy = _Calls(reg)
    applier = _applier(buf, spy, min_records=60, gather_s=60.0)
    applier.start()
    try:
        for chunk in range(3):
            _queued(
                buf, applier, [rec(_key(d), chunk * 10 + k) for d in range(2) for k in range(10)]
            )
            time.sleep(0.2)  # chunks come one by one; the applier waits for 60 items
            if chunk < 2:
                assert spy.batches == [] and buf.registry_pending == 20 * (chunk + 1)
        assert _wait(lambda: buf.registry_pending == 0)
        assert spy.batches == [60]
        s = reg.get_device(_key(0))
        assert s is not None and (s.uplink_count, s.fcnt_missed, s.last_f_cnt) == (30, 0, 29)
    finally:
        applier.stop()
        reg.close()


def test_flush_applies_a_small_queue_without_waiting(tmp_path: Path) -> None:
    buf = DurableBuffer(tmp_path / "buffer.db")
    reg = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}", journal_per_device=1000)
    applier = _applier(buf, reg, min_records=10_000, gather_s=600.0)
    applier.start()
    try:
        _queued(buf, applier, [rec(_key(0), k) for k in range(5)])
        time.sleep(0.2)
        assert buf.registry_pending == 5  # gathering
        applier.flush()  # the service's stop()
        assert _wait(lambda: buf.registry_pending == 0)
        s = reg.get_device(_key(0))
        assert s is not None and s.uplink_count == 5
    finally:
        applier.stop()
        reg.close()
