"""The durable local buffer: points wait here until the time-series store confirms them.

SQLite in WAL mode. The processor appends one row per processed chunk of messages
(one transaction, committed before the broker messages are acknowledged); the writer
reads the oldest rows, writes them to the store and deletes what the store confirmed.
A crash (kill -9) loses nothing that was committed: on restart the rows are replayed,
and idempotent points make the replay harmless.

The buffer is bounded (``max_points``); when full, the policy decides what is dropped
(``drop_oldest`` or ``reject_new``), and every dropped point is counted.

It also keeps a dead-letter table: rejected messages with their reason, bounded by
count and by bytes (#11: 150 messages of 10 MB once added 1.58 GB). A payload larger
than ``dead_letter_payload_bytes`` is kept truncated, with its original size; when
the table holds more than ``dead_letter_max_bytes``, the oldest letters go first.

It also keeps the queue of registry updates (``registry_ops``, #20): what the registry must record for a
chunk is committed in the same transaction as the chunk's points, and applied to the
registry from there (ingest/registry_queue.py), so a registry outage or a crash between
the PUBACK and the registry update loses no journal row.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from storage.base import Point
from storage.lineprotocol import line, parse_line

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    n INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_ops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    n INTEGER NOT NULL,
    body BLOB NOT NULL
);
"""
#: the longest dead-letter explanation kept (characters)
_MESSAGE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Chunk:
    """Buffered line-protocol lines (one line = one point)."""

    id: int
    created: float
    lines: list[str]

    @property
    def points(self) -> list[Point]:
        return [parse_line(ln) for ln in self.lines]


@dataclass(frozen=True, slots=True)
class RegistryBatch:
    """One chunk's registry updates (encoded by ingest/registry_queue.py), ``n`` items."""

    id: int
    n: int
    body: bytes


@dataclass(frozen=True, slots=True)
class DeadLetter:
    time: float
    topic: str
    payload: bytes
    reason: str
    message: str
    #: the payload's original size when it was kept truncated (None: kept whole)
    size: int | None = None


class DurableBuffer:
    def __init__(
        self,
        path: Path | str,
        *,
        max_points: int = 5_000_000,
        policy: Literal["drop_oldest", "reject_new"] = "drop_oldest",
        dead_letter_limit: int = 10_000,
        dead_letter_max_bytes: int = 64 * 1024 * 1024,
        dead_letter_payload_bytes: int = 16_384,
        synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_points = max_points
        self.policy = policy
        self.dead_letter_limit = dead_letter_limit
        self.dead_letter_max_bytes = dead_letter_max_bytes
        self.dead_letter_payload_bytes = dead_letter_payload_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives a process crash (kill -9);
        # FULL also survives power loss, at a cost per commit.
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(dead_letters)")}
        if "size" not in cols:  # buffers from before #11
            self._db.execute("ALTER TABLE dead_letters ADD COLUMN size INTEGER")
        row = self._db.execute("SELECT COALESCE(SUM(n), 0), COUNT(*) FROM chunks").fetchone()
        self._depth = int(row[0])
        self._dead_count = int(self._db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])
        row = self._db.execute("SELECT COALESCE(SUM(n), 0) FROM registry_ops").fetchone()
        self._registry_pending = int(row[0])
        #: registry updates dropped because their queue was full (since start)
        self.registry_dropped = 0
        #: row id of the registry batch the last ``append`` queued (None: it queued none)
        self.last_registry_id: int | None = None
        self._dead_bytes = int(
            self._db.execute(
                "SELECT COALESCE(SUM(length(payload) + length(message)), 0) FROM dead_letters"
            ).fetchone()[0]
        )
        #: points dropped because the buffer was full (since start)
        self.dropped = 0

    # -- producer side ---------------------------------------------------------------

    def append(
        self,
        points: Sequence[str | Point],
        dead: Sequence[DeadLetter] = (),
        registry: tuple[bytes, int] | None = None,
    ) -> int:
        """Durably store points — line-protocol lines, or Points — (and dead letters, and
        one encoded batch of ``registry`` updates with its item count) in one transaction.
        Returns the number of points dropped by the full-buffer policy."""
        lines = [p if isinstance(p, str) else line(p) for p in points]
        n = len(lines)
        dropped = 0
        reg_n = registry[1] if registry is not None and registry[1] else 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if reg_n:
                    if self._registry_pending + reg_n > self.max_points:
                        self._drop_oldest_registry(self._registry_pending + reg_n - self.max_points)
                    assert registry is not None
                    cur = self._db.execute(
                        "INSERT INTO registry_ops (created, n, body) VALUES (?, ?, ?)",
                        (time.time(), reg_n, registry[0]),
                    )
                    self.last_registry_id = cur.lastrowid
                else:
                    self.last_registry_id = None
                if n and self._depth + n > self.max_points:
                    if self.policy == "reject_new":
                        dropped = n
                        n = 0
                    else:
                        dropped = self._drop_oldest(self._depth + n - self.max_points)
                if n:
                    self._db.execute(
                        "INSERT INTO chunks (created, n, body) VALUES (?, ?, ?)",
                        (time.time(), n, "\n".join(lines).encode("utf-8")),
                    )
                if dead:
                    self._add_dead(dead)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth += n
            self._registry_pending += reg_n
            self.dropped += dropped
        return dropped

    def _insert_dead(self, dead: Sequence[DeadLetter]) -> None:
        self._add_dead(dead)

    def _drop_oldest_registry(self, need: int) -> None:
        """The registry queue is as bounded as the points (``max_points`` items): when a
        registry outage outlasts it, the oldest updates go, counted (inside a transaction)."""
        freed, last = 0, None
        for rid, rn in self._db.execute("SELECT id, n FROM registry_ops ORDER BY id"):
            if freed >= need:
                break
            freed += int(rn)
            last = rid
        if last is not None:
            self._db.execute("DELETE FROM registry_ops WHERE id <= ?", (last,))
        self._registry_pending -= freed
        self.registry_dropped += freed

    def _add_dead(self, dead: Sequence[DeadLetter]) -> None:
        """Insert dead letters (payloads truncated), then keep count and bytes bounded."""
        cap = self.dead_letter_payload_bytes
        rows = []
        for d in dead:
            payload, size = bytes(d.payload), d.size
            if len(payload) > cap:
                payload, size = payload[:cap], len(payload) if size is None else size
            message = d.message[:_MESSAGE_CHARS]
            rows.append((d.time, d.topic[:1000], payload, d.reason, message, size))
            self._dead_bytes += len(payload) + len(message)  # as SQLite length() counts
        self._db.executemany(
            "INSERT INTO dead_letters (time, topic, payload, reason, message, size)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        self._dead_count += len(dead)
        if self._dead_count > self.dead_letter_limit * 1.1:
            self._db.execute(
                "DELETE FROM dead_letters WHERE id <= (SELECT MAX(id) FROM dead_letters) - ?",
                (self.dead_letter_limit,),
            )
            self._dead_count = self.dead_letter_limit
            self._recount_dead()
        if self._dead_bytes > self.dead_letter_max_bytes:
            self._trim_dead_bytes(int(self.dead_letter_max_bytes * 0.9))

    def _recount_dead(self) -> None:
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(length(payload) + length(message)), 0) FROM dead_letters"
        ).fetchone()
        self._dead_count, self._dead_bytes = int(row[0]), int(row[1])

    def _trim_dead_bytes(self, target: int) -> None:
        """Delete the oldest dead letters until at most ``target`` bytes remain."""
        excess = self._dead_bytes - target
        freed, last = 0, None
        for did, n in self._db.execute(
            "SELECT id, length(payload) + length(message) FROM dead_letters ORDER BY id"
        ):
            if freed >= excess:
                break
            freed += int(n)
            last = did
        if last is not None:
            self._db.execute("DELETE FROM dead_letters WHERE id <= ?", (last,))
        self._recount_dead()

    def _drop_oldest(self, need: int) -> int:
        """Delete oldest chunks until ``need`` points are freed (inside a transaction)."""
        freed = 0
        rows = self._db.execute("SELECT id, n FROM chunks ORDER BY id").fetchall()
        last = None
        for cid, cn in rows:
            if freed >= need:
                break
            freed += int(cn)
            last = cid
        if last is not None:
            self._db.execute("DELETE FROM chunks WHERE id <= ?", (last,))
        self._depth -= freed
        return freed

    # -- consumer side ---------------------------------------------------------------

    def peek(self, max_points: int) -> list[Chunk]:
        """The oldest chunks, up to ``max_points`` points (at least one chunk)."""
        out: list[Chunk] = []
        total = 0
        with self._lock:
            cur = self._db.execute("SELECT id, created, n, body FROM chunks ORDER BY id LIMIT 1000")
            for cid, created, n, body in cur:
                if out and total + n > max_points:
                    break
                out.append(
                    Chunk(id=cid, created=created, lines=bytes(body).decode("utf-8").split("\n"))
                )
                total += n
        return out

    def remove(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM chunks WHERE id = ?", [(c.id,) for c in chunks])
            self._db.execute("COMMIT")
            self._depth -= sum(len(c.lines) for c in chunks)

    # -- registry queue (#20) --------------------------------------------------------

    def registry_peek(self, max_items: int, known: Container[int] = ()) -> list[RegistryBatch]:
        """The oldest queued registry batches, up to ``max_items`` items (at least one).
        The body of a batch in ``known`` (the caller still holds it decoded) is not read."""
        out: list[RegistryBatch] = []
        total = 0
        with self._lock:
            ids = self._db.execute(
                "SELECT id, n FROM registry_ops ORDER BY id LIMIT 200"
            ).fetchall()
            for rid, n in ids:
                if out and total + n > max_items:
                    break
                body = b""
                if rid not in known:
                    row = self._db.execute(
                        "SELECT body FROM registry_ops WHERE id = ?", (rid,)
                    ).fetchone()
                    body = bytes(row[0])
                out.append(RegistryBatch(id=rid, n=n, body=body))
                total += n
        return out

    def registry_remove(
        self, batches: Sequence[RegistryBatch], dead: Sequence[DeadLetter] = ()
    ) -> None:
        """Delete applied batches (and keep what the registry refused) in one transaction."""
        if not batches and not dead:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ids = [b.id for b in batches]
                marks = ",".join("?" * len(ids))
                gone = 0
                if ids:
                    # what is still there: the oldest may have gone to a full queue meanwhile
                    (gone,) = self._db.execute(
                        f"SELECT COALESCE(SUM(n), 0) FROM registry_ops WHERE id IN ({marks})", ids
                    ).fetchone()
                    self._db.execute(f"DELETE FROM registry_ops WHERE id IN ({marks})", ids)
                if dead:
                    self._insert_dead(dead)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._registry_pending -= int(gone)

    @property
    def registry_pending(self) -> int:
        """Registry updates (records and events) committed, not yet applied."""
        return self._registry_pending

    # -- introspection ---------------------------------------------------------------

    @property
    def depth(self) -> int:
        return self._depth

    def oldest_age(self, now: float | None = None) -> float:
        with self._lock:
            row = self._db.execute("SELECT MIN(created) FROM chunks").fetchone()
        if row[0] is None:
            return 0.0
        return max(0.0, (now or time.time()) - float(row[0]))

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                "SELECT time, topic, payload, reason, message, size FROM dead_letters"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            DeadLetter(time=r[0], topic=r[1], payload=r[2], reason=r[3], message=r[4], size=r[5])
            for r in rows
        ]

    def stats(self) -> dict[str, Any]:
        return {
            "depth": self._depth,
            "dropped": self.dropped,
            "dead_letters": self._dead_count,
            "registry_pending": self._registry_pending,
            "registry_dropped": self.registry_dropped,
            "dead_letter_bytes": self._dead_bytes,
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()
