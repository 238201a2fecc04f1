"""SensorThings fixtures: simulated uplinks ingested for real (pipeline, buffer, writer)
into a real SQLite store or a real influxd and a real SQLite registry; some devices public."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from ingest.models import RawMessage
from ingest.service import IngestService
from lorawan_monitor.health import ServiceState
from lorawan_monitor.settings import load_settings
from simulator.fleet import SimMessage, VirtualDevice, default_fleet, generate
from storage.base import TimeSeriesStore
from storage.influx import InfluxStore
from storage.registry import SqlRegistry
from storage.registry_base import DeviceMeta
from storage.sqlite import SqliteStore
from tests.servers import Influxd

#: Wyk auf Föhr, and a point in the sea west of Amrum (for spatial filters)
WYK = (54.6925, 8.5672)
AMRUM = (54.6300, 8.3200)


@dataclass
class StaEnv:
    client: TestClient
    fleet: list[VirtualDevice]
    messages: list[SimMessage]
    public: list[VirtualDevice]
    private: list[VirtualDevice]
    store: TimeSeriesStore
    registry: SqlRegistry


def ingest(
    tmp_path: Path, store: TimeSeriesStore, registry: SqlRegistry, messages: list[SimMessage]
) -> None:
    settings = load_settings(storage={"data_dir": str(tmp_path / "ingest")})
    service = IngestService(settings, store=store, registry=registry)
    service.start(mqtt=False)
    try:
        for m in messages:
            service.feed(RawMessage(topic=m.topic, payload=m.payload))
        assert service.wait_idle(60), service.buffer.stats()
    finally:
        service.stop()


def build(tmp_path: Path, store: TimeSeriesStore) -> Iterator[StaEnv]:
    registry = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}")
    fleet = default_fleet(8, networks=("tts", "chirpstack"))
    messages = list(generate(fleet, count=8 * 30, seed=11))
    ingest(tmp_path, store, registry, messages)
    public, private = fleet[:5], fleet[5:]
    for i, dev in enumerate(public):
        lat, lon = WYK if i % 2 == 0 else AMRUM
        registry.update_meta(
            dev.dev_eui,
            DeviceMeta(
                public=True,
                name=f"Messstelle {i}",
                site="Wyk" if i % 2 == 0 else "Amrum",
                latitude=lat + i * 0.001,
                longitude=lon + i * 0.001,
            ),
        )
    for dev in private:
        registry.update_meta(dev.dev_eui, DeviceMeta(public=False, name="geheim"))
    app = create_app(load_settings(), store=store, registry=registry, state=ServiceState())
    with TestClient(app) as client:
        yield StaEnv(client, fleet, messages, public, private, store, registry)
    registry.close()


@pytest.fixture
def sta(tmp_path: Path) -> Iterator[StaEnv]:
    store = SqliteStore(tmp_path / "ts.db")
    yield from build(tmp_path, store)
    store.close()


@pytest.fixture(params=["sqlite", "influx"])
def sta_any(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StaEnv]:
    store: TimeSeriesStore
    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "ts.db")
    else:
        influxd: Influxd = request.getfixturevalue("influxd")
        db: str = request.getfixturevalue("influx_db")
        store = InfluxStore(load_settings(influx={"url": influxd.url, "database": db}).influx)
    yield from build(tmp_path, store)
    store.close()
