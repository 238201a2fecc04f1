"""Readiness state belongs to the service that runs (#12).

Before: one module-level ``metrics.STATE`` that every ingest service and transport in the
process wrote and every API read by default, so one service's outage made another look
down. Now each ingest service owns its :class:`ServiceState`, hands it to its parts, and
an API reports the state it is given (``run``/``demo``: the ingest's) or its own.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from ingest.service import IngestService
from lorawan_monitor.errors import SinkUnavailableError
from lorawan_monitor.health import ServiceState
from lorawan_monitor.settings import load_settings
from storage.registry import SqlRegistry
from storage.sqlite import SqliteStore


class _DownStore(SqliteStore):
    def ensure_ready(self) -> None:
        raise SinkUnavailableError("store down for the test")


def _service(path: Path, store: SqliteStore) -> IngestService:
    path.mkdir()
    return IngestService(load_settings(storage={"data_dir": str(path)}), store=store)


def test_two_services_in_one_process_report_their_own_readiness(tmp_path: Path) -> None:
    down_store, up_store = _DownStore(tmp_path / "a.db"), SqliteStore(tmp_path / "b.db")
    down, up = _service(tmp_path / "a", down_store), _service(tmp_path / "b", up_store)
    down.start(mqtt=False)
    up.start(mqtt=False)
    try:
        assert down.state is not up.state
        ok, reasons = down.state.ready()
        assert not ok and "store down for the test" in reasons[0], reasons
        assert up.state.ready() == (True, [])
    finally:
        down.stop(flush_timeout=0.5)
        up.stop()
        down_store.close()
        up_store.close()


def test_the_api_reports_the_state_it_is_given_else_its_own(tmp_path: Path) -> None:
    settings = load_settings(storage={"data_dir": str(tmp_path)})
    store = SqliteStore(tmp_path / "ts.db")
    registry = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}")
    shared = ServiceState()
    shared.set_sink(False, "the ingest's store is down")
    try:
        given = create_app(settings, store=store, registry=registry, state=shared)
        own = create_app(settings, store=store, registry=registry)
        with TestClient(given) as client:
            r = client.get("/api/v1/health/ready")
        assert r.status_code == 503
        assert any("the ingest's store is down" in x for x in r.json()["reasons"]), r.json()
        with TestClient(own) as client:
            assert client.get("/api/v1/health/ready").status_code == 200
    finally:
        registry.close()
        store.close()
