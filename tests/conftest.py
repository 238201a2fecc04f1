"""Shared fixtures: real mosquitto and influxd servers on free loopback ports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from lorawan_monitor.settings import InfluxSettings
from storage.influx import InfluxStore
from tests.servers import Influxd, Mosquitto, running_influxd, running_mosquitto


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    """A real mosquitto broker for the whole session (tests use distinct topics/clients)."""
    with running_mosquitto() as m:
        yield m


@pytest.fixture(scope="session")
def influxd() -> Iterator[Influxd]:
    """A real InfluxDB 1.x server for the whole session."""
    with running_influxd() as i:
        yield i


@pytest.fixture
def influx_db(influxd: Influxd) -> Iterator[str]:
    """A fresh, empty database name on the session's influxd (dropped afterwards)."""
    name = "t_" + uuid.uuid4().hex[:12]
    influxd.create_database(name)
    yield name
    influxd.drop_database(name)


def influx_store_for(request: pytest.FixtureRequest) -> InfluxStore:
    """An InfluxStore on the session's influxd with a fresh database (fixtures ``influxd``,
    ``influx_db``), for parametrized store tests."""
    influxd = request.getfixturevalue("influxd")
    db = request.getfixturevalue("influx_db")
    return InfluxStore(InfluxSettings(url=influxd.url, database=db))
