"""A throwaway PostgreSQL cluster for the registry tests (never the system's 5432).

``initdb`` + ``postgres`` from /usr/lib/postgresql/*/bin on a free loopback port, with
the data directory and the unix socket in a temporary directory. initdb refuses to run
as root, so under root the server runs as the ``postgres`` system user (runuser).
Each test gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.servers import Postgres, running_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with running_postgres() as pg:
        yield pg


@pytest.fixture
def postgres_dsn(postgres: Postgres) -> Iterator[str]:
    """A fresh empty database on the session's cluster (dropped afterwards)."""
    name = "reg_" + uuid.uuid4().hex[:12]
    with postgres.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    yield postgres.dsn(name)
    with postgres.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
