"""The registry database going away and coming back: one ERROR naming
LORAWAN_STORAGE__REGISTRY_URL, one INFO when it answers again, readiness in between; and
an unreachable registry at start is a clear start-up error (issue #14). Real PostgreSQL."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lorawan_monitor.errors import SinkUnavailableError
from lorawan_monitor.health import ServiceState
from lorawan_monitor.settings import load_settings
from lorawan_monitor.wiring import build_registry
from tests.servers import free_port, running_postgres

pytestmark = pytest.mark.integration


def test_registry_outage_is_logged_once_down_and_once_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lorawan_monitor.wiring")
    with running_postgres() as pg:
        dsn = pg.create_database("outage")
        settings = load_settings(storage={"registry_url": dsn, "data_dir": str(tmp_path)})
        state = ServiceState()
        registry = build_registry(settings, state=state)
        try:
            assert registry.device_meta("0011223344556677") is None
            with pg.admin() as conn:  # the database goes away under the running service
                conn.execute("ALTER DATABASE outage ALLOW_CONNECTIONS false")
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = 'outage'"
                )
            for _ in range(3):
                with pytest.raises(SinkUnavailableError):
                    registry.device_meta("0011223344556677")
            errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(errors) == 1 and errors[0].levelno == logging.ERROR, caplog.text
            assert "LORAWAN_STORAGE__REGISTRY_URL" in errors[0].getMessage()
            ready, reasons = state.ready()
            assert not ready and any("registry database" in r for r in reasons), reasons
            with pg.admin() as conn:
                conn.execute("ALTER DATABASE outage ALLOW_CONNECTIONS true")
            assert registry.device_meta("0011223344556677") is None
            back = [r for r in caplog.records if "answers again" in r.getMessage()]
            assert len(back) == 1 and back[0].levelno == logging.INFO
            assert not any("registry" in r for r in state.ready()[1])
        finally:
            registry.close()


def test_an_unreachable_registry_stops_the_start_naming_the_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
    env.update(
        LORAWAN_STORAGE__REGISTRY_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/reg",
        LORAWAN_STORAGE__DATA_DIR=str(tmp_path),
        LORAWAN_INGEST__METRICS_PORT="0",
    )
    r = subprocess.run(
        [sys.executable, "-m", "lorawan_monitor.cli", "ingest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    assert "registry database unreachable" in r.stderr
    assert "LORAWAN_STORAGE__REGISTRY_URL" in r.stderr and "Traceback" not in r.stderr
