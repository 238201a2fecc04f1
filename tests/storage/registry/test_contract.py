"""Contract suite for the SQL device registry, run against SQLite and PostgreSQL.

PostgreSQL is a throwaway cluster started by tests/storage/conftest.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from lorawan_monitor.errors import ConfigError, UnknownDeviceError
from storage.registry import SqlRegistry, upgrade
from storage.registry_base import DeviceMeta, UplinkRecord

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
EUI = "70B3D57ED0000001"


def rec(
    f_cnt: int,
    *,
    key: str = EUI,
    at: datetime | None = None,
    uplink_id: str | None = None,
    **kw: Any,
) -> UplinkRecord:
    """An uplink record; received ``f_cnt`` minutes after T0 unless ``at`` is given."""
    base: dict[str, Any] = {
        "device_key": key,
        "dev_eui": key if len(key) == 16 else None,
        "device_id": "eui-" + key.lower(),
        "application": "city-sensors",
        "source": "tts",
        "received_at": at or T0 + timedelta(minutes=f_cnt),
        "f_port": 2,
        "f_cnt": f_cnt,
        "payload": bytes([f_cnt % 256, 0x01, 0x02]),
        "model_id": "dragino/lht65",
        "decoder": "native:dragino/lht65",
        "status": "decoded",
        "uplink_id": uplink_id if uplink_id is not None else f"{key}-{f_cnt}",
    }
    base.update(kw)
    return UplinkRecord(**base)


def _sqlite_dsn(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return _sqlite_dsn(tmp_path)
    return str(request.getfixturevalue("postgres_dsn"))


@pytest.fixture
def reg(dsn: str) -> Iterator[SqlRegistry]:
    r = SqlRegistry(dsn, journal_per_device=10)
    yield r
    r.close()


def test_first_uplink_creates_device(reg: SqlRegistry) -> None:
    assert reg.get_device(EUI) is None
    assert reg.device_meta(EUI) is None
    reg.record_uplinks([rec(7, device_name="Lamp post 4", device_profile="LHT65")])
    d = reg.get_device(EUI)
    assert d is not None
    assert (d.dev_eui, d.device_id, d.application, d.source) == (
        EUI,
        "eui-70b3d57ed0000001",
        "city-sensors",
        "tts",
    )
    assert d.first_seen == d.last_seen == T0 + timedelta(minutes=7)
    assert d.uplink_count == 1 and d.last_f_cnt == 7
    assert d.fcnt_missed == 0 and d.fcnt_resets == 0
    assert reg.device_meta(EUI) == DeviceMeta()


def test_status_fields(reg: SqlRegistry) -> None:
    gws = [{"gateway_id": "gw-a", "rssi": -97.0, "snr": 6.5}, {"gateway_id": "gw-b", "rssi": -110}]
    reg.record_uplinks(
        [
            rec(1, rssi=-120.0, snr=-3.0, spreading_factor=12, gateway_count=1),
            rec(
                2,
                rssi=-97.0,
                snr=6.5,
                spreading_factor=9,
                gateway_count=2,
                gateways=gws,
                readings=[("temperature", "", 21.5), ("temperature", "probe", 4.25)],
                decoded={"TempC_SHT": 21.5, "TempC_DS": 4.25},
            ),
        ]
    )
    d = reg.get_device(EUI)
    assert d is not None
    assert (d.rssi, d.snr, d.spreading_factor, d.gateway_count) == (-97.0, 6.5, 9, 2)
    assert d.last_status == "decoded" and d.last_error is None
    assert d.decoder == "native:dragino/lht65" and d.model_id == "dragino/lht65"
    assert d.first_seen == T0 + timedelta(minutes=1)
    assert d.last_seen == T0 + timedelta(minutes=2)
    assert list(d.last_readings) == [("temperature", "", 21.5), ("temperature", "probe", 4.25)]
    (j,) = reg.journal(EUI, limit=1)
    assert j.gateways == tuple(gws) and j.decoded == {"TempC_SHT": 21.5, "TempC_DS": 4.25}
    assert j.payload == bytes([2, 1, 2]) and j.f_port == 2 and j.f_cnt == 2
    assert j.received_at == T0 + timedelta(minutes=2) and j.received_at.tzinfo is not None


def test_gaps_resets_and_duplicates(reg: SqlRegistry) -> None:
    reg.record_uplinks([rec(1), rec(2), rec(5)])  # 3 and 4 missed
    d = reg.get_device(EUI)
    assert d is not None and (d.uplink_count, d.fcnt_missed, d.last_f_cnt) == (3, 2, 5)
    assert d.missed_percent == pytest.approx(40.0)
    reg.record_uplinks([rec(5)])  # the same uplink again: nothing changes
    reg.record_uplinks([rec(2), rec(1)])
    assert reg.get_device(EUI) == d
    assert len(reg.journal(EUI, limit=100)) == 3
    # same f_cnt under a new uplink id (a retransmission): seen, not counted, no gap/reset
    reg.record_uplinks([rec(5, uplink_id="retx", at=T0 + timedelta(minutes=5, seconds=8))])
    d = reg.get_device(EUI)
    assert d is not None and (d.uplink_count, d.fcnt_missed, d.fcnt_resets) == (3, 2, 0)
    assert d.last_seen == T0 + timedelta(minutes=5, seconds=8)
    # counter back to 0 from a high value: a reset, not a gap
    reg.record_uplinks([rec(0, at=T0 + timedelta(hours=1)), rec(1, at=T0 + timedelta(hours=2))])
    d = reg.get_device(EUI)
    assert d is not None
    assert (d.uplink_count, d.fcnt_missed, d.fcnt_resets, d.last_f_cnt) == (5, 2, 1, 1)


def test_same_batch_duplicates_and_replay_of_a_whole_batch(reg: SqlRegistry) -> None:
    batch = [rec(i) for i in (10, 11, 11, 14)]  # 11 twice with the same uplink id
    reg.record_uplinks(batch)
    first = reg.get_device(EUI)
    reg.record_uplinks(batch)
    assert reg.get_device(EUI) == first
    assert first is not None and (first.uplink_count, first.fcnt_missed) == (3, 2)
    assert [j.f_cnt for j in reg.journal(EUI)] == [14, 11, 10]


def test_late_uplinks_fill_the_gap(reg: SqlRegistry) -> None:
    reg.record_uplinks([rec(1), rec(5)])
    reg.record_uplinks([rec(3), rec(2)])  # refilled later (e.g. from TTS storage)
    d = reg.get_device(EUI)
    assert d is not None and (d.uplink_count, d.fcnt_missed, d.last_f_cnt) == (4, 1, 5)
    assert d.last_seen == T0 + timedelta(minutes=5)
    assert [j.f_cnt for j in reg.journal(EUI)] == [5, 3, 2, 1]


def test_decode_error_then_recovery(reg: SqlRegistry) -> None:
    reg.record_uplinks([rec(1, readings=[("temperature", "", 20.0)])])
    err = "expected 11 bytes, got 7"
    reg.record_uplinks([rec(2, status="error", error=err, decoded=None)])
    d = reg.get_device(EUI)
    assert d is not None and (d.last_status, d.last_error) == ("error", err)
    assert list(d.last_readings) == [("temperature", "", 20.0)]  # kept from the last good one
    # ... with the time they were received, not the failed uplink's (#14)
    assert d.last_readings_at == T0 + timedelta(minutes=1) < d.last_seen  # type: ignore[operator]
    reg.record_uplinks([rec(3, status="no_payload", f_port=0, decoder=None)])  # MAC-only
    d = reg.get_device(EUI)
    assert d is not None and d.last_status == "error"
    reg.record_uplinks([rec(4, readings=[("temperature", "", 21.0)])])
    d = reg.get_device(EUI)
    assert d is not None and (d.last_status, d.last_error) == ("decoded", None)
    assert list(d.last_readings) == [("temperature", "", 21.0)]
    statuses = [(j.f_cnt, j.status, j.error) for j in reg.journal(EUI)]
    assert statuses[2] == (2, "error", err)


def test_codec_error_event(reg: SqlRegistry) -> None:
    lns: dict[str, Any] = {"model_id": None, "decoder": "lns", "status": "lns_decoded"}
    reg.record_uplinks([rec(1, **lns)])
    reg.record_codec_error(
        EUI, time=T0 + timedelta(minutes=1), message="js: boom", uplink_id=f"{EUI}-1"
    )
    d = reg.get_device(EUI)
    assert d is not None and (d.last_status, d.last_error) == ("error", "js: boom")
    assert [(j.status, j.error) for j in reg.journal(EUI)] == [("error", "js: boom")]
    # the log event arrives before its uplink (batched ingest): applied when the uplink lands
    reg.record_codec_error(
        EUI, time=T0 + timedelta(minutes=2), message="late", uplink_id=f"{EUI}-2"
    )
    d = reg.get_device(EUI)
    assert d is not None and d.last_error == "js: boom" and d.uplink_count == 1
    reg.record_uplinks([rec(2, **lns)])
    d = reg.get_device(EUI)
    assert d is not None and (d.last_status, d.last_error) == ("error", "late")
    assert reg.journal(EUI, limit=1)[0].status == "error"
    reg.record_uplinks([rec(3, **lns)])
    d = reg.get_device(EUI)
    assert d is not None and (d.last_status, d.last_error) == ("lns_decoded", None)
    # an error event for a device never seen before creates it
    reg.record_codec_error("AA00000000000001", time=T0, message="x", uplink_id=None)
    other = reg.get_device("AA00000000000001")
    assert other is not None and other.last_status == "error" and other.uplink_count == 0


def test_battery(reg: SqlRegistry) -> None:
    reg.record_uplinks([rec(1, readings=[("battery", "", 80.0), ("battery_voltage", "", 3.05)])])
    d = reg.get_device(EUI)
    assert d is not None and (d.last_battery, d.last_battery_voltage) == (80.0, 3.05)
    reg.record_battery(EUI, time=T0 + timedelta(minutes=5), percent=71.0)
    reg.record_battery(EUI, time=T0, percent=99.0)  # older than what we have: ignored
    d = reg.get_device(EUI)
    assert d is not None and d.last_battery == 71.0
    reg.record_uplinks([rec(9, readings=[("battery", "", 70.0), ("temperature", "", 1.0)])])
    d = reg.get_device(EUI)
    assert d is not None and (d.last_battery, d.last_battery_voltage) == (70.0, 3.05)
    reg.record_battery("AA00000000000002", time=T0, percent=55.0)
    other = reg.get_device("AA00000000000002")
    assert other is not None and other.last_battery == 55.0


def test_journal_trimming_and_order(reg: SqlRegistry) -> None:
    for start in range(0, 30, 7):
        reg.record_uplinks([rec(i) for i in range(start, min(start + 7, 30))])
    reg.record_uplinks([rec(1, key="BB00000000000001")])
    entries = reg.journal(EUI, limit=100)
    assert [j.f_cnt for j in entries] == list(range(29, 19, -1))  # newest first, N=10
    assert [j.f_cnt for j in reg.journal(EUI, limit=3)] == [29, 28, 27]
    reg.trim_journal()
    every = reg.journal_for_redecode(model_id=None, start=T0, end=T0 + timedelta(days=1))
    assert [j.f_cnt for j in every if j.device_key == EUI] == list(range(20, 30))
    assert [j.received_at for j in every] == sorted(j.received_at for j in every)
    assert any(j.device_key == "BB00000000000001" for j in every)


def test_journal_for_redecode_filters(reg: SqlRegistry) -> None:
    other = "CC00000000000001"
    reg.record_uplinks([rec(i) for i in range(1, 6)])
    reg.record_uplinks([rec(i, key=other, model_id=None, status="no_decoder") for i in (2, 3)])
    got = reg.journal_for_redecode(
        model_id="dragino/lht65", start=T0 + timedelta(minutes=2), end=T0 + timedelta(minutes=4)
    )
    assert [(j.device_key, j.f_cnt) for j in got] == [(EUI, 2), (EUI, 3)]  # end is exclusive
    # a model override makes the other device's journal eligible too
    reg.update_meta(other, DeviceMeta(model_override="dragino/lht65"))
    got = reg.journal_for_redecode(model_id="dragino/lht65", start=T0, end=T0 + timedelta(hours=1))
    assert [(j.device_key, j.f_cnt) for j in got] == [
        (EUI, 1), (EUI, 2), (other, 2), (EUI, 3), (other, 3), (EUI, 4), (EUI, 5)
    ]  # fmt: skip
    assert reg.journal_for_redecode(model_id="acme/x", start=T0, end=T0 + timedelta(days=1)) == []


def test_journal_disabled(dsn: str) -> None:
    r = SqlRegistry(dsn, journal_per_device=0)
    try:
        r.record_uplinks([rec(1), rec(2)])
        r.record_uplinks([rec(2)])  # still idempotent for the last uplink
        d = r.get_device(EUI)
        assert d is not None and d.uplink_count == 2 and r.journal(EUI) == []
        r.record_codec_error(EUI, time=T0, message="codec", uplink_id=f"{EUI}-2")
        d = r.get_device(EUI)
        assert d is not None and (d.last_status, d.last_error) == ("error", "codec")
    finally:
        r.close()


def test_meta_edits_and_override(reg: SqlRegistry) -> None:
    with pytest.raises(UnknownDeviceError):
        reg.update_meta(EUI, DeviceMeta(name="x"))
    meta = DeviceMeta(
        name="Marktplatz CO2",
        category="environment",
        site="Altstadt",
        latitude=47.5,
        longitude=7.6,
        model_override="milesight/am103",
        expected_interval_s=600,
        public=True,
        notes="mounted 3 m high",
        variables={"offset": -0.5},
        tags={"owner": "city"},
    )
    d = reg.update_meta(EUI, meta, create=True)
    assert d.meta == meta and d.uplink_count == 0 and d.last_seen is None
    assert d.dev_eui == EUI and d.model_id == "milesight/am103"
    assert reg.device_meta(EUI) == meta
    reg.record_uplinks([rec(1)])  # the uplink says dragino/lht65; the override wins
    d2 = reg.get_device(EUI)
    assert d2 is not None and d2.model_id == "milesight/am103" and d2.meta == meta
    assert d2.source == "tts" and d2.device_id == "eui-70b3d57ed0000001"
    d3 = reg.update_meta(EUI, DeviceMeta(name="Renamed", public=False))
    assert d3.meta == replace(meta, name="Renamed", public=False)
    assert reg.get_device(EUI) == d3


def test_overdue(reg: SqlRegistry) -> None:
    reg.record_uplinks([rec(0), rec(0, key="DD00000000000001")])
    # no interval configured or learned: overdue after a day of silence (#14)
    assert reg.list_devices(overdue_at=T0 + timedelta(hours=23))[1] == 0
    assert reg.list_devices(overdue_at=T0 + timedelta(hours=25))[1] == 2
    reg.update_meta(EUI, DeviceMeta(expected_interval_s=600))
    d = reg.get_device(EUI)
    assert d is not None
    assert not d.overdue(T0 + timedelta(seconds=1199))
    assert d.overdue(T0 + timedelta(seconds=1201))
    assert reg.list_devices(overdue_at=T0 + timedelta(seconds=1199))[1] == 0
    got, n = reg.list_devices(overdue_at=T0 + timedelta(seconds=1201))
    assert n == 1 and got[0].device_key == EUI
    reg.record_uplinks([rec(30)])  # a new uplink moves the deadline
    assert reg.list_devices(overdue_at=T0 + timedelta(seconds=1201))[1] == 0


def test_learned_interval_overdue_without_configuration(reg: SqlRegistry) -> None:
    """#14: the interval is learned from the device's own cadence (10 min here), robust to
    missed frames, repeats and resets, and follows a device that changes its interval."""

    def up(minute: float, f_cnt: int) -> UplinkRecord:
        return rec(f_cnt, at=T0 + timedelta(minutes=minute), uplink_id=f"u{minute}-{f_cnt}")

    # every 10 min; frames 3 and 5 missed (their gaps count per frame), 6 repeated
    reg.record_uplinks([up(0, 1), up(10, 2), up(30, 4), up(50, 6), up(50.5, 6)])
    d = reg.get_device(EUI)
    assert d is not None and d.learned_interval_s == 600
    assert d.interval == (600, "learned")
    last = T0 + timedelta(minutes=50.5)  # the repeat is the last uplink heard
    assert not d.overdue(last + timedelta(seconds=1199))
    assert d.overdue(last + timedelta(seconds=1201))
    assert reg.list_devices(overdue_at=last + timedelta(seconds=1201))[1] == 1
    # one odd gap (switched off for 3 h, counter +1) does not move the median
    reg.record_uplinks([up(230, 7), up(240, 8)])
    d = reg.get_device(EUI)
    assert d is not None and d.learned_interval_s == 600
    # a counter reset teaches nothing
    reg.record_uplinks([up(245, 0)])
    assert (d := reg.get_device(EUI)) is not None and d.learned_interval_s == 600
    # the device now reports hourly: after three hourly gaps the median follows
    reg.record_uplinks([up(305, 1), up(365, 2), up(425, 3)])
    d = reg.get_device(EUI)
    assert d is not None and d.learned_interval_s == 3600
    # a configured interval wins over the learned one
    d = reg.update_meta(EUI, DeviceMeta(expected_interval_s=900))
    assert d.interval == (900, "configured")
    at = T0 + timedelta(minutes=425)
    assert reg.list_devices(overdue_at=at + timedelta(seconds=1801))[1] == 1


def test_list_filters_and_pagination(reg: SqlRegistry) -> None:
    keys = [f"EE0000000000{i:04X}" for i in range(25)]
    reg.record_uplinks(
        [
            rec(
                1,
                key=k,
                status="error" if i % 5 == 0 else "decoded",
                error="bad" if i % 5 == 0 else None,
            )
            for i, k in enumerate(keys)
        ]
    )
    for i, k in enumerate(keys):
        cat = ("environment", "tourism", "traffic")[i % 3]
        reg.update_meta(k, DeviceMeta(category=cat, site="Nord" if i < 10 else "Süd"))
    reg.update_meta(keys[7], DeviceMeta(name="Parkhaus_Ost 100%"))
    page, total = reg.list_devices(limit=10)
    assert total == 25 and [d.device_key for d in page] == keys[:10]
    page, total = reg.list_devices(offset=20, limit=10)
    assert total == 25 and [d.device_key for d in page] == keys[20:]
    assert reg.list_devices(category="tourism")[1] == len(keys[1::3])
    assert reg.list_devices(site="Nord", category="environment")[1] == len(keys[0:10:3])
    errs, n = reg.list_devices(decode_errors=True)
    assert n == 5 and {d.device_key for d in errs} == set(keys[::5])
    assert reg.list_devices(decode_errors=False)[1] == 20
    assert [d.device_key for d in reg.list_devices(search="parkhaus_OST")[0]] == [keys[7]]
    assert reg.list_devices(search="100%")[1] == 1
    assert reg.list_devices(search="_")[1] == 1  # '_' is literal, not a wildcard
    assert reg.list_devices(search="ee00000000000013")[1] == 1  # key, any case
    assert reg.list_devices(search="nothing-like-this")[1] == 0


def test_upgrade_keeps_data(dsn: str) -> None:
    engine = create_engine(dsn)
    try:
        upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO devices (device_key, dev_eui, device_id, name, uplink_count,"
                    " fcnt_missed, fcnt_resets, last_f_cnt, last_seen)"
                    " VALUES ('0011223344556677', '0011223344556677', 'd1', 'Old one', 42, 3, 1,"
                    " 99, :t)"
                ),
                {"t": T0 if engine.dialect.name != "sqlite" else "2026-05-04 10:00:00.000000"},
            )
            conn.execute(
                text(
                    "INSERT INTO journal (device_key, received_at, f_port, f_cnt, payload,"
                    " status, uplink_id) VALUES ('0011223344556677', :t, 1, 99, :p, 'decoded',"
                    " 'u99')"
                ),
                {
                    "t": T0 if engine.dialect.name != "sqlite" else "2026-05-04 10:00:00.000000",
                    "p": b"\x01\x02",
                },
            )
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            assert version == "0001"
    finally:
        engine.dispose()
    r = SqlRegistry(dsn)  # upgrades to head
    try:
        d = r.get_device("0011223344556677")
        assert d is not None and d.meta.name == "Old one"
        assert (d.uplink_count, d.fcnt_missed, d.fcnt_resets, d.last_f_cnt) == (42, 3, 1, 99)
        assert d.last_seen == T0
        (j,) = r.journal("0011223344556677")
        assert j.payload == b"\x01\x02" and j.uplink_id == "u99"
        with r.engine.connect() as conn:
            head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert head == _script_head() and int(head) >= 5
        # 0005 gave the old device the default deadline: silent for a day, it is overdue
        assert r.list_devices(overdue_at=T0 + timedelta(hours=23))[1] == 0
        assert r.list_devices(overdue_at=T0 + timedelta(hours=25))[1] == 1
        r.record_codec_error("0011223344556677", time=T0, message="m", uplink_id="u100")
    finally:
        r.close()
    SqlRegistry(dsn).close()  # opening an up-to-date database again is a no-op


def _script_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from storage.migrations import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def test_code_tables_match_the_migrated_schema(dsn: str) -> None:
    """The tables code writes through are exactly what the migrations built: alembic's own
    comparison (columns, types, nullability, indexes), not a list of names (#12)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import JSON, DateTime

    from storage.migrations import FastJson, UtcDateTime, metadata

    def same_type(
        _ctx: object, _col: object, _meta: object, db_type: Any, code_type: Any
    ) -> bool | None:
        # the code's TypeDecorators store as the migrations' types: compare what they wrap
        if isinstance(code_type, FastJson):
            return (
                not isinstance(db_type, JSON | FastJson)
                and "JSON" not in str(db_type).upper()
                and str(db_type).upper() != "TEXT"
            )
        if isinstance(code_type, UtcDateTime):
            return not isinstance(db_type, DateTime)
        return None  # alembic's default comparison

    r = SqlRegistry(dsn)
    try:
        with r.engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": same_type, "compare_server_default": False}
            )
            from alerts.tables import _md as alert_metadata

            diff = compare_metadata(ctx, [metadata, alert_metadata])  # type: ignore[arg-type]
        assert diff == []
    finally:
        r.close()


def test_bad_database_urls() -> None:
    from lorawan_monitor.errors import SinkUnavailableError
    from tests.servers import free_port

    with pytest.raises(ConfigError, match="REGISTRY_URL is not a database URL"):
        SqlRegistry("not a url at all")
    with pytest.raises(ConfigError, match="nonsense"):
        SqlRegistry("nonsense://x")
    with pytest.raises(SinkUnavailableError) as info:  # nothing listens there
        SqlRegistry(f"postgresql://user:s3cret@127.0.0.1:{free_port()}/db")
    assert "s3cret" not in str(info.value) and "user:***@" in str(info.value)


def test_sqlite_wal_one_writer_many_readers(tmp_path: Path) -> None:
    r = SqlRegistry(_sqlite_dsn(tmp_path))
    with r.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        try:
            while not done.is_set():
                r.list_devices(limit=5)
                r.get_device(EUI)
                r.journal(EUI)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    try:
        for b in range(20):
            r.record_uplinks([rec(b * 10 + i, key=f"FF00000000000{i:03X}") for i in range(50)])
            r.record_uplinks([rec(b + 1)])
    finally:
        done.set()
        for t in readers:
            t.join()
        r.close()
    assert errors == []


@pytest.mark.integration
def test_two_workers_share_postgres(postgres_dsn: str) -> None:
    """Two registries (two ingest workers behind a shared subscription) on one database."""
    workers = [SqlRegistry(postgres_dsn, journal_per_device=50) for _ in range(2)]
    keys = [f"AC00000000000{i:03X}" for i in range(10)]
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            for f_cnt in range(w, 40, 2):  # worker 0 gets even counters, worker 1 odd
                workers[w].record_uplinks([rec(f_cnt, key=k) for k in keys])
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        for k in keys:
            d = workers[0].get_device(k)
            assert d is not None and d.uplink_count == 40 and d.fcnt_resets == 0
            assert d.first_seen == T0 and d.last_f_cnt == 39
            assert sorted(j.f_cnt for j in workers[1].journal(k, limit=50)) == list(range(40))
    finally:
        for w in workers:
            w.close()


def test_many_batches_fold_exactly_sqlite(tmp_path: Path) -> None:
    """21 batches of 1,000 records over 100 devices fold to exact counts and a trimmed
    journal. (Throughput is measured in bench/registry.py, not asserted here: #12.)"""
    r = SqlRegistry(_sqlite_dsn(tmp_path), journal_per_device=100)
    gws = [{"gateway_id": "gw-1", "rssi": -100.0, "snr": 5.0}]
    batches = [
        [
            rec(
                b * 10 + i // 100,
                key=f"AB{i % 100:014X}",
                gateways=gws,
                rssi=-100.0,
                snr=5.0,
                gateway_count=1,
                spreading_factor=7,
                decoded={"temperature": 21.5, "humidity": 40, "battery": 3.1},
                readings=[("temperature", "", 21.5), ("relative_humidity", "", 40.0)],
            )
            for i in range(1000)
        ]
        for b in range(21)
    ]
    try:
        for batch in batches:
            r.record_uplinks(batch)
        d = r.get_device("AB00000000000000")
        assert d is not None and d.uplink_count == 210 and d.fcnt_missed == 0
        assert len(r.journal("AB00000000000000", limit=1000)) == 100
    finally:
        r.close()


# -- devices files ---------------------------------------------------------------------------

YAML_OK = """\
devices:
  - dev_eui: 70b3d57ed0000001
    name: Marktplatz CO2
    model: milesight/am103
    category: environment
    site: Altstadt
    latitude: 47.55
    longitude: 7.59
    expected_interval: 15m
    public: true
    variables: {offset: -0.5}
    tags: {owner: city, floor: 2}
  - dev_eui: "70-B3-D5-7E-D0-00-00-02"
    expected_interval: 3600
"""

CSV_OK = """\
dev_eui,name,model,category,site,latitude,longitude,expected_interval,public,notes,variables,tags
70B3D57ED0000003,Zähler Brücke,acme/counter-2,traffic,Rheinbrücke,47.56,7.6,1h,yes,"pole 12, north side","{""lanes"": 2}",owner=city;lane=north
70B3D57ED0000004,,,,,,,,,,,
"""


def test_devices_file_yaml(tmp_path: Path) -> None:
    from storage.devices_file import load_devices_file

    f = tmp_path / "devices.yaml"
    f.write_text(YAML_OK)
    (k1, m1), (k2, m2) = load_devices_file(f)
    assert k1 == "70B3D57ED0000001" and k2 == "70B3D57ED0000002"
    assert m1 == DeviceMeta(
        name="Marktplatz CO2",
        category="environment",
        site="Altstadt",
        latitude=47.55,
        longitude=7.59,
        model_override="milesight/am103",
        expected_interval_s=900,
        public=True,
        variables={"offset": -0.5},
        tags={"owner": "city", "floor": "2"},
    )
    assert m2 == DeviceMeta(expected_interval_s=3600)
    f.write_text("- dev_eui: 70B3D57ED0000001\n- {dev_eui: 70B3D57ED0000001}\n")  # a bare list
    with pytest.raises(ConfigError, match=r"line 2, field dev_eui: .* already on line 1"):
        load_devices_file(f)


def test_devices_file_csv(tmp_path: Path) -> None:
    from storage.devices_file import load_devices_file

    f = tmp_path / "devices.csv"
    f.write_text(CSV_OK)
    (k3, m3), (k4, m4) = load_devices_file(f)
    assert k3 == "70B3D57ED0000003" and k4 == "70B3D57ED0000004"
    assert m3 == DeviceMeta(
        name="Zähler Brücke",
        category="traffic",
        site="Rheinbrücke",
        latitude=47.56,
        longitude=7.6,
        model_override="acme/counter-2",
        expected_interval_s=3600,
        public=True,
        notes="pole 12, north side",
        variables={"lanes": 2},
        tags={"owner": "city", "lane": "north"},
    )
    assert m4 == DeviceMeta()
    f.write_text("dev_eui;name;latitude\n70B3D57ED0000005;Semikolon;47,5\n")  # ';' spreadsheets
    ((_, m5),) = load_devices_file(f)  # German Excel's decimal comma is read (#14)
    assert m5.latitude == 47.5
    f.write_text("dev_eui;name;latitude\n70B3D57ED0000005;Semikolon;47,5,1\n")
    with pytest.raises(ConfigError, match=r"devices.csv: line 2, field latitude"):
        load_devices_file(f)


@pytest.mark.parametrize(
    ("text", "suffix", "expected"),
    [
        ("dev_eui,name\n70B3D57ED0000001,ok\nXYZ,bad\n", "csv", r"line 3, field dev_eui: 'XYZ'"),
        ("dev_eui,model\n70B3D57ED0000001,Dragino/LHT65\n", "csv", r"line 2, field model"),
        ("dev_eui,category\n70B3D57ED0000001,parking\n", "csv", r"line 2, field category"),
        ("dev_eui,latitude\n70B3D57ED0000001,91\n", "csv", r"line 2, field latitude"),
        ("dev_eui,longitude\n70B3D57ED0000001,-181\n", "csv", r"line 2, field longitude"),
        ("dev_eui,expected_interval\n70B3D57ED0000001,soon\n", "csv", r"field expected_interval"),
        ("dev_eui,variables\n70B3D57ED0000001,{oops\n", "csv", r"line 2, field variables"),
        ("dev_eui,lattitude\n70B3D57ED0000001,1\n", "csv", r"line 2, field lattitude: unknown"),
        ("name\nx\n", "csv", r"line 1: .*dev_eui"),
        ("dev_eui\n70B3D57ED0000001,extra\n", "csv", r"line 2: more cells than columns"),
        ("- dev_eui: 70B3D57ED0000001\n\n- name: no eui\n", "yaml", r"line 3, field dev_eui"),
        ("- dev_eui: 70B3D57ED0000001\n  public: perhaps\n", "yaml", r"line 1, field public"),
        ("devices: {a: 1}\n", "yaml", r"expected a list of devices"),
        ("- [unclosed\n", "yaml", r"not valid YAML"),
    ],
)
def test_devices_file_errors_name_line_and_field(
    tmp_path: Path, text: str, suffix: str, expected: str
) -> None:
    from storage.devices_file import load_devices_file

    f = tmp_path / f"devices.{suffix}"
    f.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_devices_file(f)
    assert str(f) in str(info.value)


def test_import_devices_file_into_registry(reg: SqlRegistry, tmp_path: Path) -> None:
    from storage.devices_file import import_devices, load_devices_file

    f = tmp_path / "devices.yaml"
    f.write_text(YAML_OK)
    reg.record_uplinks([rec(3, key="70B3D57ED0000002")])  # already seen: keeps its status
    assert import_devices(reg, load_devices_file(f)) == 2
    one = reg.get_device("70B3D57ED0000001")
    assert one is not None and one.uplink_count == 0 and one.meta.site == "Altstadt"
    assert one.model_id == "milesight/am103"
    two = reg.get_device("70B3D57ED0000002")
    assert two is not None and two.uplink_count == 1 and two.meta.expected_interval_s == 3600
    assert reg.list_devices(category="environment")[1] == 1
    assert import_devices(reg, load_devices_file(f)) == 2  # importing again is harmless
    assert reg.list_devices()[1] == 2


def test_cli_devices_import_and_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lorawan_monitor.cli import main

    monkeypatch.setenv("LORAWAN_STORAGE__REGISTRY_URL", _sqlite_dsn(tmp_path))
    f = tmp_path / "devices.csv"
    f.write_text(CSV_OK)
    assert main(["devices", "import", str(f)]) == 0
    assert "2 devices imported" in capsys.readouterr().out
    assert main(["devices", "list", "--json", "--category", "traffic"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(d["device_key"], d["name"], d["uplink_count"]) for d in lines] == [
        ("70B3D57ED0000003", "Zähler Brücke", 0)
    ]
    assert main(["devices", "list"]) == 0
    out = capsys.readouterr().out
    assert "70B3D57ED0000004" in out and "never" in out and "2 of 2 devices" in out
    f.write_text("dev_eui\nnot-an-eui\n")
    assert main(["devices", "import", str(f)]) == 2
    assert "line 2, field dev_eui" in capsys.readouterr().err


def test_network_server_device_name_is_kept_and_searchable(reg: SqlRegistry) -> None:
    reg.record_uplinks([rec(1, source="chirpstack", device_name="school-12-room-3")])
    d = reg.get_device(EUI)
    assert d is not None and d.device_name == "school-12-room-3"
    found, total = reg.list_devices(search="room-3")
    assert total == 1 and found[0].device_key == EUI
    reg.record_uplinks([rec(2, source="chirpstack")])  # an uplink without a name keeps it
    d = reg.get_device(EUI)
    assert d is not None and d.device_name == "school-12-room-3"


def test_import_meta_writes_a_large_devices_file_in_one_transaction(dsn: str) -> None:
    """A large devices file (#11: 1 MB took 37 s as one transaction per row) is one transaction:
    counted statements, not a timing. Created/updated are exact; the last row of a key
    given twice wins; existing status is kept."""
    from sqlalchemy import event

    r = SqlRegistry(dsn)
    try:
        r.update_meta("AB00000000000001", DeviceMeta(name="old", site="x"), create=True)
        entries = [
            (f"AB{i:014X}", DeviceMeta(name=f"Sensor {i}", site="Wyk", category="environment"))
            for i in range(1, 5_001)
        ]
        entries.append(("AB00000000000002", DeviceMeta(name="twice")))
        commits: list[int] = []
        event.listen(r.engine, "commit", lambda conn: commits.append(1))
        created, updated = r.import_meta(entries)
        assert (created, updated) == (4_999, 1)
        assert len(commits) == 1
        one = r.get_device("AB00000000000001")
        assert one is not None and one.meta.name == "Sensor 1" and one.meta.site == "Wyk"
        twice = r.get_device("AB00000000000002")
        assert twice is not None and twice.meta.name == "twice" and twice.meta.site == "Wyk"
        assert r.list_devices(limit=1)[1] == 5_000
    finally:
        r.close()


def test_source_name_latest_uplink_wins(reg: SqlRegistry) -> None:
    """The source (LORAWAN_SOURCES) a device came through (#16): the latest uplink's; a late
    delivery or an uplink without a source name (one broker, re-decode) leaves it alone."""
    reg.record_uplinks([rec(1)])
    d = reg.get_device(EUI)
    assert d is not None and d.source_name is None and d.source == "tts"
    reg.record_uplinks([rec(2, source_name="tts-umwelt")])
    reg.record_uplinks([rec(3, source_name="tts-parken")])
    d = reg.get_device(EUI)
    assert d is not None and d.source_name == "tts-parken"
    reg.record_uplinks([rec(0, at=T0 - timedelta(hours=1), source_name="late-one")])
    reg.record_uplinks([rec(4)])
    d = reg.get_device(EUI)
    assert d is not None and d.source_name == "tts-parken" and d.uplink_count == 5
    found, _ = reg.list_devices()
    assert [x.source_name for x in found] == ["tts-parken"]


def test_upgrade_0005_to_0006_adds_source_name(dsn: str) -> None:
    """A registry at 0005 with a device keeps it; the device has no source name until its
    next uplink through a named source."""
    engine = create_engine(dsn)
    sqlite = engine.dialect.name == "sqlite"
    try:
        upgrade(engine, "0005")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO devices (device_key, dev_eui, device_id, source, uplink_count,"
                    " fcnt_missed, fcnt_resets, last_f_cnt, last_seen)"
                    " VALUES (:k, :k, 'd1', 'chirpstack', 7, 0, 0, 7, :t)"
                ),
                {"k": EUI, "t": "2026-05-04 10:00:00.000000" if sqlite else T0},
            )
    finally:
        engine.dispose()
    r = SqlRegistry(dsn)
    try:
        with r.engine.connect() as conn:
            head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert head is not None and int(head) >= 6
        d = r.get_device(EUI)
        assert d is not None and d.source_name is None and d.uplink_count == 7
        assert d.source == "chirpstack"
        r.record_uplinks([rec(8, source="chirpstack", source_name="stadtwerke")])
        d = r.get_device(EUI)
        assert d is not None and d.source_name == "stadtwerke" and d.uplink_count == 8
    finally:
        r.close()
