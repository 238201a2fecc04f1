"""One registry writer at a time: per process a thread lock, across processes a file lock.

A SQLite registry file shared by several processes (``ingest --workers N``): writers queue
on a file lock next to it, which wakes the next one at once, instead of SQLite's busy
handler, which sleeps in growing steps and wastes most of the time under contention.
PostgreSQL (and SQLite ``:memory:``, whose one connection is shared) needs the thread lock
only; PostgreSQL orders concurrent writers with ``SELECT … FOR UPDATE``.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine


class WriteLock:
    def __init__(self, engine: Engine) -> None:
        self._lock = threading.Lock()
        db_file = engine.url.database if engine.dialect.name == "sqlite" else None
        self.path = f"{db_file}.writelock" if db_file and db_file != ":memory:" else None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self.path is None:
                yield
                return
            with open(self.path, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
