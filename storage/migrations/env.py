"""Alembic environment for the device registry.

``SqlRegistry`` runs ``upgrade head`` programmatically and hands its own connection in
``config.attributes["connection"]``. Developers can also run alembic by hand::

    alembic -c storage/migrations/alembic.ini -x dsn=sqlite:///data/registry.db upgrade head
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

#: any 64-bit number; serialises concurrent upgrades of a shared PostgreSQL registry
_PG_LOCK_ID = 0x4C6F52615265  # "LoRaRe"


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_ID})
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    dsn = context.get_x_argument(as_dictionary=True).get("dsn") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not dsn:
        raise SystemExit("give the registry database: alembic ... -x dsn=<url>")
    engine = create_engine(dsn)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


main()
