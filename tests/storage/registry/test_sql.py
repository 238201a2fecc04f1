"""``SqlRegistry.record_uplinks`` with the per-device batch fold (#19), on SQLite and
PostgreSQL: a batch gives the same rows as its uplinks one at a time, times out of order
never move last_seen backwards, and a batch applied twice (at-least-once replay of the
durable registry queue) counts nothing twice. The pre-#19 contract suite is
tests/storage/registry/test_contract.py."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ingest.registry_queue import Work, decode, encode
from storage.registry import SqlRegistry
from storage.registry_base import UplinkRecord

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
KEYS = ("70B3D57ED0000001", "70B3D57ED0000002", "70B3D57ED0000003")


def rec(key: str, f_cnt: int, minute: float, **kw: Any) -> UplinkRecord:
    base: dict[str, Any] = {
        "device_key": key,
        "dev_eui": key,
        "device_id": "eui-" + key.lower(),
        "application": "city",
        "source": "tts",
        "received_at": T0 + timedelta(minutes=minute),
        "f_port": 2,
        "f_cnt": f_cnt,
        "payload": bytes([f_cnt % 256]),
        "model_id": "dragino/lht65",
        "decoder": "native:dragino/lht65",
        "status": "decoded",
        "decoded": {"TempC_SHT": 20.0 + f_cnt},
        "readings": (("temperature", "", 20.0 + f_cnt), ("battery", "", 100.0 - f_cnt)),
        "gateways": ({"gateway_id": "gw1", "rssi": -80.0 - f_cnt, "snr": 7.0},),
        "rssi": -80.0 - f_cnt,
        "snr": 7.0,
        "gateway_count": 1,
        "uplink_id": f"{key}-{f_cnt}-{minute}",
    }
    base.update(kw)
    return UplinkRecord(**base)


def _stream(seed: int) -> list[UplinkRecord]:
    """Three devices' uplinks with missed frames, repeats, a reset, a late one, "no payload"."""
    rng = random.Random(seed)
    out = []
    for key in KEYS:
        f = 0
        for i in range(30):
            f = rng.choice([f + 1, f + 1, f + 1, f + 3, f, 0 if i == 20 else f + 1])
            kw: dict[str, Any] = {}
            if rng.random() < 0.15:
                kw = {"status": "no_payload", "readings": (), "decoded": None}
            out.append(rec(key, f, 10 * i + rng.random(), **kw))
    out.sort(key=lambda r: r.received_at)
    late = out[40]
    out.append(replace(late, f_cnt=late.f_cnt - 1, uplink_id=late.uplink_id + "-late"))
    return out


def _rekey(recs: list[UplinkRecord], suffix: str) -> list[UplinkRecord]:
    return [
        replace(
            r,
            device_key=r.device_key[:-2] + suffix + r.device_key[-1],
            dev_eui=r.device_key[:-2] + suffix + r.device_key[-1],
            uplink_id=r.uplink_id + suffix,
        )
        for r in recs
    ]


def _state(reg: SqlRegistry, key: str) -> tuple[Any, ...]:
    d = reg.get_device(key)
    assert d is not None
    fields = (
        d.uplink_count, d.fcnt_missed, d.fcnt_resets, d.last_f_cnt, d.last_seen, d.first_seen,
        d.last_status, d.last_battery, d.rssi, d.last_readings, d.learned_interval_s,
    )  # fmt: skip
    journal = [(j.f_cnt, j.received_at, j.status) for j in reg.journal(key, limit=1000)]
    return fields, journal


def test_a_batch_folds_as_its_uplinks_one_at_a_time(dsn: str) -> None:
    reg = SqlRegistry(dsn, journal_per_device=1000)
    try:
        stream = _stream(7)
        one_by_one = _rekey(stream, "A")
        batched = _rekey(stream, "B")
        for r in one_by_one:
            reg.record_uplinks([r])
        # two batches in time order, each shuffled (record_uplinks sorts by time itself);
        # the last uplink is a late one: in a batch of its own, as it came one by one
        for part in (batched[:50], batched[50:-1], batched[-1:]):
            random.Random(3).shuffle(part)
            reg.record_uplinks(part)
        for key in KEYS:
            a, b = _state(reg, key[:-2] + "A" + key[-1]), _state(reg, key[:-2] + "B" + key[-1])
            assert a == b
            assert len(a[1]) == sum(r.device_key == key for r in stream)  # every uplink
    finally:
        reg.close()


def test_out_of_order_times_never_move_last_seen_backwards(dsn: str) -> None:
    reg = SqlRegistry(dsn, journal_per_device=1000)
    key = KEYS[0]
    try:
        reg.record_uplinks([rec(key, 5, 50), rec(key, 1, 10), rec(key, 3, 30)])  # one batch
        d = reg.get_device(key)
        assert d is not None
        assert (d.last_seen, d.last_f_cnt, d.uplink_count, d.fcnt_missed) == (
            T0 + timedelta(minutes=50), 5, 3, 2
        )  # fmt: skip
        # a late delivery (older than last_seen) in a later batch, with a newer one
        reg.record_uplinks([rec(key, 6, 60), rec(key, 2, 20)])
        d = reg.get_device(key)
        assert d is not None
        assert (d.last_seen, d.last_f_cnt, d.uplink_count, d.fcnt_missed) == (
            T0 + timedelta(minutes=60), 6, 5, 1
        )  # fmt: skip
        assert d.last_readings == (("temperature", "", 26.0), ("battery", "", 94.0))
        # only late ones: nothing of "last" moves
        reg.record_uplinks([rec(key, 4, 40)])
        d = reg.get_device(key)
        assert d is not None and d.last_seen == T0 + timedelta(minutes=60)
        assert (d.uplink_count, d.fcnt_missed, d.last_battery) == (6, 0, 94.0)
    finally:
        reg.close()


def test_the_same_batch_twice_counts_nothing_twice(dsn: str) -> None:
    """At-least-once: the applier may apply a queued batch again after a crash between
    applying it and deleting it; the same blob decoded twice changes nothing."""
    reg = SqlRegistry(dsn, journal_per_device=1000)
    try:
        stream = _stream(11)
        blob, bad = encode(Work(records=stream))
        assert not bad
        reg.record_uplinks(decode(blob).records)
        before = [_state(reg, k) for k in KEYS]
        reg.record_uplinks(decode(blob).records)
        reg.record_uplinks(decode(blob).records[::-1])
        assert [_state(reg, k) for k in KEYS] == before
        # and a batch overlapping the last one: only the new uplinks count
        extra = [rec(k, 100, 400) for k in KEYS]
        reg.record_uplinks([*decode(blob).records[-10:], *extra])
        for k, (fields, journal) in zip(KEYS, before, strict=True):
            now_fields, now_journal = _state(reg, k)
            assert now_fields[0] == fields[0] + 1  # one more uplink, nothing else again
            assert len(now_journal) == len(journal) + 1
    finally:
        reg.close()


def test_the_journal_is_trimmed_by_size(dsn: str) -> None:
    """Trimmed once a device's journal grew by half its limit, never below the limit."""
    reg = SqlRegistry(dsn, journal_per_device=10)
    key = KEYS[0]
    try:
        with reg.engine.connect() as conn:
            rows = []
            for i in range(40):
                reg.record_uplinks([rec(key, i, i)])
                n = conn.exec_driver_sql(
                    f"SELECT count(*) FROM journal WHERE device_key = '{key}'"
                ).scalar_one()
                conn.commit()
                rows.append(n)
        assert max(rows) <= 15 and min(rows[10:]) >= 10
        assert [j.f_cnt for j in reg.journal(key, limit=100)] == list(range(39, 29, -1))
    finally:
        reg.close()


def test_registry_at_head_opens_without_alembic(tmp_path: Path) -> None:
    """A registry database already migrated opens without importing alembic (#19: ~10 MB
    per ingest worker); a new one and an older one are still migrated by alembic."""
    import subprocess
    import sys

    from sqlalchemy import create_engine, text

    from storage.migrations import script_heads, upgrade

    heads = script_heads()
    assert heads is not None and len(heads) == 1

    def opens_with_alembic(dsn: str) -> bool:
        probe = (
            "import sys; from storage.registry import SqlRegistry; "
            f"r = SqlRegistry({dsn!r}); r.close(); print('alembic' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        ).stdout
        return out.strip() == "True"

    def stamped(dsn: str) -> set[str]:
        engine = create_engine(dsn)
        with engine.connect() as conn:
            got = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        engine.dispose()
        return got

    new = f"sqlite:///{tmp_path / 'new.db'}"
    assert opens_with_alembic(new)  # a new database: alembic creates the schema
    assert stamped(new) == heads
    assert not opens_with_alembic(new)  # at the head: no alembic
    old = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(old)
    upgrade(engine, "0001")  # a database of the first release
    engine.dispose()
    assert stamped(old) == {"0001"}
    assert opens_with_alembic(old)  # alembic brings it up to the head
    assert stamped(old) == heads
