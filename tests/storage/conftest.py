"""A throwaway PostgreSQL cluster for the registry tests (never the system's 5432).

``initdb`` + ``postgres`` from /usr/lib/postgresql/*/bin on a free loopback port, with
the data directory and the unix socket in a temporary directory. initdb refuses to run
as root, so under root the server runs as the ``postgres`` system user (runuser).
Each test gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.servers import free_port, wait_port


@dataclass
class Postgres:
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes]

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def dsn(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found: install the Debian package 'postgresql' (make deps)")
    return found[-1]


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """The port opens before recovery ends ("the database system is starting up")."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres").close()
            return
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    workdir = Path(tempfile.mkdtemp(prefix="lm-pg-"))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
    data = workdir / "data"
    try:
        subprocess.run(
            _as_postgres(
                [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
                + ["-E", "UTF8", "--locale=C", "--no-sync"]
            ),
            check=True,
            capture_output=True,
        )
        port = free_port()
        log = open(workdir / "postgres.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            _as_postgres(
                [_pg_bin("postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1"]
                + ["-k", str(workdir), "-F", "-c", "full_page_writes=off"]
                + ["-c", "synchronous_commit=off"]
            ),
            stdout=log,
            stderr=log,
        )
        try:
            wait_port(port, timeout=30, proc=proc)
            _wait_ready(port, proc)
            yield Postgres(port=port, workdir=workdir, proc=proc)
        finally:
            proc.terminate()  # SIGTERM = smart shutdown; sessions are closed by now
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres: Postgres) -> Iterator[str]:
    """A fresh empty database on the session's cluster (dropped afterwards)."""
    name = "reg_" + uuid.uuid4().hex[:12]
    with postgres.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    yield postgres.dsn(name)
    with postgres.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
