"""The durable buffer keeps points across a crash and bounds its size with a counted policy."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

from ingest.buffer import DeadLetter, DurableBuffer
from storage.base import Point


def _pts(n: int, start: int = 0) -> list[Point]:
    return [
        Point(
            measurement="temperature",
            tags={"device": f"d{i % 3}"},
            fields={"value": i / 10},
            time_ns=start + i,
        )
        for i in range(n)
    ]


def test_append_peek_remove_in_order(tmp_path: Path) -> None:
    b = DurableBuffer(tmp_path / "b.db")
    b.append(_pts(3))
    b.append(_pts(2, start=100))
    assert b.depth == 5
    chunks = b.peek(3)
    assert [p.time_ns for p in chunks[0].points] == [0, 1, 2]
    assert len(chunks) == 1  # the second chunk would exceed 3 points
    b.remove(chunks)
    assert b.depth == 2
    rest = b.peek(100)
    assert [p.time_ns for c in rest for p in c.points] == [100, 101]
    assert rest[0].points[0] == _pts(2, start=100)[0]


def _writer_then_die(path: str) -> None:
    b = DurableBuffer(path)
    b.append(_pts(50))
    os.kill(os.getpid(), signal.SIGKILL)


def test_committed_points_survive_kill_9(tmp_path: Path) -> None:
    path = str(tmp_path / "b.db")
    p = multiprocessing.get_context("spawn").Process(target=_writer_then_die, args=(path,))
    p.start()
    p.join(30)
    assert p.exitcode == -signal.SIGKILL
    b = DurableBuffer(path)
    assert b.depth == 50
    assert sum(len(c.points) for c in b.peek(1000)) == 50


def test_drop_oldest_policy_counts_what_it_drops(tmp_path: Path) -> None:
    b = DurableBuffer(tmp_path / "b.db", max_points=1000, policy="drop_oldest")
    for k in range(5):
        assert b.append(_pts(300, start=k * 1000)) == (0 if k < 3 else 300)
    assert b.depth <= 1000
    assert b.dropped == 600
    first = b.peek(10_000)[0].points[0].time_ns
    assert first == 2000  # the two oldest chunks went


def test_reject_new_policy_keeps_old_points(tmp_path: Path) -> None:
    b = DurableBuffer(tmp_path / "b.db", max_points=1000, policy="reject_new")
    b.append(_pts(900))
    assert b.append(_pts(200, start=5000)) == 200
    assert b.depth == 900 and b.dropped == 200


def test_dead_letters_are_kept_with_reason_and_bounded(tmp_path: Path) -> None:
    b = DurableBuffer(tmp_path / "b.db", dead_letter_limit=10)
    for i in range(30):
        b.append(
            [], [DeadLetter(time=i, topic="t", payload=b"x", reason="malformed", message=f"m{i}")]
        )
    dl = b.dead_letters(limit=100)
    assert 10 <= len(dl) <= 11
    assert dl[0].message == "m29" and dl[0].reason == "malformed"
