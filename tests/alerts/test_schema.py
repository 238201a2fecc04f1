"""Migration 0004: the alert tables as ``alerts/tables.py`` describes them, on SQLite and
PostgreSQL, and down to 0003 and up again."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from alerts.tables import alert_history, alert_lease, alert_outbox, alert_state
from storage.migrations import upgrade
from storage.registry import SqlRegistry
from tests.storage.registry.test_contract import _script_head


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def any_dsn(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'r.db'}"
    return request.getfixturevalue("postgres_dsn")


def test_alert_tables_match_migration_and_downgrade(any_dsn):
    from alembic import command
    from alembic.config import Config

    from storage.migrations import MIGRATIONS

    r = SqlRegistry(any_dsn)
    try:
        insp = inspect(r.engine)
        for table in (alert_state, alert_history, alert_outbox, alert_lease):
            in_db = {c["name"] for c in insp.get_columns(table.name)}
            assert in_db == {c.name for c in table.columns}, table.name
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with r.engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0003")
            conn.commit()
        assert "alert_state" not in inspect(r.engine).get_table_names()
        upgrade(r.engine)
        with r.engine.connect() as conn:
            head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            assert head == _script_head() and int(head) >= 4
    finally:
        r.close()
