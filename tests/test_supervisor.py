"""The supervisor's parts (#20): the data-dir lock, the members and their layout file.
The process tree itself (restarts, no orphans, drains) runs against real servers in
tests/integration/test_scaleout.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lorawan_monitor.errors import ConfigError
from lorawan_monitor.supervisor import DataDirLock, Layout, Member, member_index, members_for

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ["application/+/device/+/event/+"]

_HOLD = """
import sys, time
from pathlib import Path
from lorawan_monitor.supervisor import DataDirLock
DataDirLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_second_holder_is_refused_naming_the_first(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        t0 = time.monotonic()
        with pytest.raises(ConfigError, match=rf"pid {holder.pid}\b.*LORAWAN_STORAGE__DATA_DIR"):
            DataDirLock(tmp_path).acquire(wait=0.5)
        assert time.monotonic() - t0 < 5
    finally:
        holder.kill()
        holder.wait()
    # the kernel released the lock with the process (kill -9 included)
    lock = DataDirLock(tmp_path)
    lock.acquire()
    assert (tmp_path / "ingest.pid").read_text().strip() == str(os.getpid())
    lock.release()


def test_members_of_one_and_of_several(tmp_path: Path) -> None:
    [one] = members_for(1, "lm-host", tmp_path, TOPICS, None)
    assert (one.client_id, one.data_dir, one.topics) == ("lm-host", str(tmp_path), tuple(TOPICS))
    three = members_for(3, "lm-host", tmp_path, TOPICS, None)
    assert [m.client_id for m in three] == ["lm-host-1", "lm-host-2", "lm-host-3"]
    assert [m.data_dir for m in three] == [str(tmp_path / f"worker-{n}") for n in (1, 2, 3)]
    assert all(m.topics == ("$share/lorawan-monitor/" + TOPICS[0],) for m in three)
    # worker 3 of three is not worker 3 of a layout in another share group
    assert members_for(3, "lm-host", tmp_path, TOPICS, "other")[2] != three[2]
    # the members of two workers are those of three, but one
    assert set(members_for(2, "lm-host", tmp_path, TOPICS, None)) == set(three[:2])


def test_member_index_is_the_worker_number_its_drain_serves_sources_as(tmp_path: Path) -> None:
    # a drain of worker n takes over the sessions for_worker(settings, n) had (#16)
    three = members_for(3, "lm-host", tmp_path, TOPICS, None)
    assert [member_index(m) for m in three] == [1, 2, 3]
    [one] = members_for(1, "lm-host", tmp_path, TOPICS, None)
    assert member_index(one) is None  # the single ingest: the sources unchanged


def test_layout_round_trip_and_unreadable_file(tmp_path: Path) -> None:
    members = members_for(2, "lm", tmp_path, TOPICS, "g")
    retired = [Member("worker-3", "lm-3", str(tmp_path / "worker-3"), ("$share/g/x",), "g")]
    Layout(members=members, retired=retired).save(tmp_path)
    back = Layout.load(tmp_path)
    assert back.members == members and back.retired == retired
    assert Layout.load(tmp_path / "nothing-here").members == []
    (tmp_path / "ingest-members.json").write_text("{not json")
    with pytest.raises(ConfigError, match="ingest-members.json"):
        Layout.load(tmp_path)
