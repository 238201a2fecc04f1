"""API test fixtures: real SQLite registry + real stores, seeded through their own APIs.

The seed data is made by the real decoders: a healthy Dragino LHT65 (vector from
decoders/vendors/dragino/testdata/lht65.yaml, TTN Device Repository example), the same
model with a truncated payload (decode error), a device with no decoder, a device
registered from a devices file but never heard, an overdue one (configured interval) and a
silent ChirpStack parking sensor whose interval nobody configured (learned from its
cadence; Nwave NPS405 vectors from decoders/vendors/nwave/testdata/nps405sm.yaml).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import decoders
from api.main import create_app
from decoders.errors import DecodeError
from lorawan_monitor.health import ServiceState
from lorawan_monitor.settings import Settings, load_settings
from storage.base import Point, TimeSeriesStore
from storage.registry import SqlRegistry
from storage.registry_base import DeviceMeta, UplinkRecord
from storage.sqlite import SqliteStore
from tests.servers import Influxd

NOW = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
API_KEY = "test-key-0123456789"

OK_EUI = "A84041000181C1A0"
BAD_EUI = "A84041000181C1B0"
NODEC_EUI = "0004A30B001C0530"
NEVER_EUI = "70B3D57ED0000001"
LATE_EUI = "A84041000181C1C0"
SILENT_EUI = "0011223344550001"

LHT65_OK = bytes.fromhex("CBF60B0D0376010ADD7FFF")  # TTN repo example
LHT65_BAD = LHT65_OK[:7]
GW = ({"gateway_id": "gw-townhall", "rssi": -97.0, "snr": 7.5},)


@dataclass
class Env:
    app: FastAPI
    client: TestClient
    registry: SqlRegistry
    store: TimeSeriesStore
    state: ServiceState
    #: the readings written for OK_EUI: (time, temperature internal)
    temps: list[tuple[datetime, float]]


def record(
    eui: str,
    *,
    t: datetime,
    f_cnt: int,
    payload: bytes,
    model: str | None,
    device_id: str,
    f_port: int = 2,
    source: str = "tts",
    radio: tuple[float, float, int] = (-97.0, 7.5, 7),
    source_name: str | None = None,
) -> tuple[UplinkRecord, list[Point]]:
    """One uplink decoded by the real decoder, as the registry record + store points."""
    readings: list[tuple[str, str, float]] = []
    decoded = None
    error = None
    status: str
    if model is None:
        status, decoder = "no_decoder", None
    else:
        decoder = f"native:{model}"
        try:
            res = decoders.decode(model, payload, f_port)
            status, decoded = "decoded", res.decoded
            readings = [(str(r.quantity), r.sensor, r.value) for r in res.readings]
        except DecodeError as exc:
            status, error = "error", str(exc)
    t_ns = int(t.timestamp()) * 1_000_000_000
    tags = {"device": device_id, "dev_eui": eui, "application": "city", "model": model or ""}
    points = [
        Point(
            measurement=q,
            tags={**tags, "sensor": s} if s else tags,
            fields={"value": float(v)},
            time_ns=t_ns,
        )
        for q, s, v in readings
    ]
    rec = UplinkRecord(
        device_key=eui,
        dev_eui=eui,
        device_id=device_id,
        application="city",
        source=source,
        received_at=t,
        f_port=f_port,
        f_cnt=f_cnt,
        payload=payload,
        model_id=model,
        decoder=decoder,
        status=status,  # type: ignore[arg-type]
        error=error,
        decoded=decoded,
        readings=readings,
        gateways=({**GW[0], "rssi": radio[0], "snr": radio[1]},),
        rssi=radio[0],
        snr=radio[1],
        spreading_factor=radio[2],
        frequency=868100000,
        gateway_count=1,
        uplink_id=f"{eui}-{f_cnt}",
        source_name=source_name,
    )
    return rec, points


def seed(registry: SqlRegistry, store: TimeSeriesStore) -> list[tuple[datetime, float]]:
    records: list[UplinkRecord] = []
    points: list[Point] = []
    temps: list[tuple[datetime, float]] = []
    # healthy LHT65: 12 uplinks every 10 min over the last 2 h, f_cnt 10..24 with 3 missed
    fcnts = [10, 11, 12, 13, 15, 16, 17, 18, 19, 21, 22, 24]
    for i, fc in enumerate(fcnts):
        t = NOW - timedelta(minutes=10 * (len(fcnts) - i))
        # vary the internal temperature: bytes 2-3, 0.01 °C
        temp_raw = 2000 + 50 * i
        payload = LHT65_OK[:2] + temp_raw.to_bytes(2, "big") + LHT65_OK[4:]
        rec, pts = record(
            OK_EUI,
            t=t,
            f_cnt=fc,
            payload=payload,
            model="dragino/lht65",
            device_id="lht65-ok",
            # two sources (#16): this one came through "tts-umwelt" (the others: none set)
            source_name="tts-umwelt",
        )
        records.append(rec)
        points += pts
        temps.append((t, temp_raw / 100))
    # the same model with a truncated payload: a real decode error
    for fc in (1, 2):
        rec, pts = record(
            BAD_EUI,
            t=NOW - timedelta(minutes=5 * (3 - fc)),
            f_cnt=fc,
            payload=LHT65_BAD if fc == 2 else LHT65_OK,
            model="dragino/lht65",
            device_id="lht65-broken",
        )
        records.append(rec)
        points += pts
    rec, _ = record(
        NODEC_EUI,
        t=NOW - timedelta(minutes=3),
        f_cnt=7,
        payload=b"\x01\x02",
        model=None,
        device_id="mystery",
    )
    records.append(rec)
    rec, pts = record(
        LATE_EUI,
        t=NOW - timedelta(hours=5),
        f_cnt=100,
        payload=LHT65_OK,
        model="dragino/lht65",
        device_id="lht65-late",
    )
    records.append(rec)
    points += pts
    # a parking sensor (ChirpStack) reporting every 15 min, one frame missed, silent for 4 h;
    # no interval configured: the registry learns 15 min from its cadence
    heartbeat, parked = bytes.fromhex("00D3D800590B"), bytes.fromhex("95")
    for minutes, fc in ((300, 40), (285, 41), (255, 43), (240, 44)):
        rec, pts = record(
            SILENT_EUI,
            t=NOW - timedelta(minutes=minutes),
            f_cnt=fc,
            payload=parked if fc == 44 else heartbeat,
            f_port=1 if fc == 44 else 2,
            model="nwave/nps405sm",
            device_id="parking-7",
            source="chirpstack",
            radio=(-118.0, -9.0, 10),
            source_name="chirpstack-stadtwerke",
        )
        records.append(rec)
        points += pts
    registry.record_uplinks(records)
    store.write(points)
    registry.update_meta(
        OK_EUI,
        DeviceMeta(name="Town hall roof", category="environment", site="town-hall"),
    )
    registry.update_meta(BAD_EUI, DeviceMeta(name="Market square", category="environment"))
    registry.update_meta(
        NEVER_EUI,
        DeviceMeta(name="Bridge counter", category="traffic", site="bridge"),
        create=True,
    )
    registry.update_meta(LATE_EUI, DeviceMeta(name="Park bench", expected_interval_s=1200))
    registry.update_meta(SILENT_EUI, DeviceMeta(name="Parking space 7", category="traffic"))
    return temps


def make_settings(**api: object) -> Settings:
    return load_settings(api={"api_keys": [API_KEY], **api})


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[SqlRegistry]:
    r = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}")
    yield r
    r.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "ts.db")
    yield s
    s.close()


@pytest.fixture(params=["sqlite", "influx"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TimeSeriesStore]:
    """The readings suite runs against both stores."""
    if request.param == "sqlite":
        s: TimeSeriesStore = SqliteStore(tmp_path / "ts.db")
    else:
        from storage.influx import InfluxStore

        influxd: Influxd = request.getfixturevalue("influxd")
        db: str = request.getfixturevalue("influx_db")
        s = InfluxStore(load_settings(influx={"url": influxd.url, "database": db}).influx)
    yield s
    s.close()


def build_env(
    registry: SqlRegistry, store: TimeSeriesStore, settings: Settings | None = None
) -> Iterator[Env]:
    temps = seed(registry, store)
    state = ServiceState()
    app = create_app(
        settings or make_settings(), store=store, registry=registry, state=state, clock=lambda: NOW
    )
    with TestClient(app) as client:
        yield Env(app=app, client=client, registry=registry, store=store, state=state, temps=temps)


@pytest.fixture
def env(registry: SqlRegistry, sqlite_store: SqliteStore) -> Iterator[Env]:
    yield from build_env(registry, sqlite_store)


@pytest.fixture
def env_any_store(registry: SqlRegistry, any_store: TimeSeriesStore) -> Iterator[Env]:
    yield from build_env(registry, any_store)


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
