"""Several processes opening one fresh SQLite registry at once (ingest workers, the API
container) must not race each other's migrations."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from storage.registry import SqlRegistry


def _open(dsn: str) -> None:
    SqlRegistry(dsn).close()


def test_processes_starting_together_all_open_the_registry(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    failed = 0
    for i in range(4):
        dsn = f"sqlite:///{tmp_path}/r{i}.db"
        procs = [ctx.Process(target=_open, args=(dsn,)) for _ in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        failed += sum(p.exitcode != 0 for p in procs)
    assert failed == 0
