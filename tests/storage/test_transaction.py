"""The one registry-database transaction helper the registry and the alert tables share."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from lorawan_monitor.errors import SinkUnavailableError
from storage.migrations import create_registry_engine, transaction


def test_commits_rolls_back_and_names_the_owner(tmp_path: Path) -> None:
    engine = create_registry_engine(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        with transaction(engine, write=True) as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(RuntimeError), transaction(engine, write=True) as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            raise RuntimeError("boom")
        with pytest.raises(SinkUnavailableError, match=r"^alerts: registry database: .*UNIQUE"):
            with transaction(engine, write=True, what="alerts: registry database") as conn:
                conn.execute(text("INSERT INTO t VALUES (3)"))
                conn.execute(text("INSERT INTO t VALUES (1)"))
        with transaction(engine) as conn:
            assert conn.execute(text("SELECT x FROM t ORDER BY x")).scalars().all() == [1]
    finally:
        engine.dispose()
