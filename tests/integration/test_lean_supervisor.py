"""``ingest --workers N`` (#19, #20): the supervisor migrates the registry in a subprocess and,
once the settings are checked, execs into a module of only the standard library, so it does
not keep the application (settings/pydantic, SQLAlchemy, SQLite, the decoders) resident just
to watch its workers. Checked here: the supervisor has none of
those libraries mapped, its workers run the full ingest, and a SIGTERM stops them all with
exit code 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import Mosquitto

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                out.append(int(d.name))
    return out


def _cmdline(pid: int) -> str:
    return (Path(f"/proc/{pid}/cmdline").read_bytes()).replace(b"\0", b" ").decode()


def test_the_supervisor_runs_lean_and_stops_its_workers(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
    env.update(
        LORAWAN_MQTT__HOST="127.0.0.1",
        LORAWAN_MQTT__PORT=str(mosquitto.port),
        LORAWAN_MQTT__CLIENT_ID=f"lean-{tmp_path.name}",
        LORAWAN_STORAGE__DATA_DIR=str(tmp_path / "data"),
        LORAWAN_INGEST__METRICS_PORT="0",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "lorawan_monitor.cli", "ingest", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while len(workers) < 2:
            assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "the workers did not start"
            workers = _children(proc.pid)
            time.sleep(0.2)
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        for heavy in ("sqlalchemy", "_sqlite3", "orjson", "mini_racer", "pydantic", "msgspec"):
            assert heavy not in maps, f"the supervisor has {heavy} loaded"
        # exec'd into a fresh interpreter (#19): same pid, only the standard library
        assert "lorawan_monitor.supervisor" in _cmdline(proc.pid)
        for w in workers:
            assert "lorawan_monitor.cli ingest" in _cmdline(w)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert not any(Path(f"/proc/{w}").exists() for w in workers)
