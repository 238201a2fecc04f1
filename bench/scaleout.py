"""Scale-out that holds (#20): the scenarios of tests/integration/test_scaleout.py, longer.

Real mosquitto (persistence on), real influxd, a throwaway PostgreSQL cluster as the shared
registry; ``lorawan-monitor ingest --workers N`` as a process tree; a ChirpStack v4 stream
at QoS 1. Prints per scenario: readings n/n (point by point), journal rows n/n,
uplink_count n/n, phantom missed frames, devices with a wrong last f_cnt.

    .venv/bin/python bench/scaleout.py [--count 20000] [--devices 200] [--rate 1500]
        [--pg-outage 20] [--only worker-kill,supervisor-kill,pg-outage,scale]
        [--registry postgres|sqlite]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.fleet import SimMessage  # noqa: E402
from tests.integration.test_scaleout import (  # noqa: E402
    Ingest,
    _env,
    _Stream,
    _uplinks,
    _wait,
    figures,
    registry_state,
    stream,
    summary,
)
from tests.servers import (  # noqa: E402
    Influxd,
    Mosquitto,
    Postgres,
    running_influxd,
    running_mosquitto,
    running_postgres,
)


class _BenchIngest(Ingest):
    influxd: Influxd
    pg: Postgres


class _LazyStream(_Stream):
    """Starts publishing on ``start()``."""

    def __init__(self, port: int, messages: list[SimMessage], rate: float) -> None:
        self._args = (port, messages, rate)

    def start(self) -> None:
        super().__init__(*self._args)


Scenario = Callable[[_BenchIngest, _LazyStream, str, str, argparse.Namespace], None]


def worker_kill(
    ing: _BenchIngest, pub: _LazyStream, db: str, dsn: str, a: argparse.Namespace
) -> None:
    ing.start(2)
    pub.start()
    _wait(lambda: _uplinks(ing.influxd, db) >= a.count // 3, 120)
    os.kill(ing.worker_pid("worker-2"), signal.SIGKILL)


def supervisor_kill(
    ing: _BenchIngest, pub: _LazyStream, db: str, dsn: str, a: argparse.Namespace
) -> None:
    ing.start(2)
    pub.start()
    _wait(lambda: _uplinks(ing.influxd, db) >= a.count // 3, 120)
    assert ing.proc is not None
    workers = ing.children()
    ing.proc.send_signal(signal.SIGKILL)
    ing.proc.wait()
    gone = _wait(lambda: not any(Path(f"/proc/{p}").exists() for p in workers), 60)
    print(f"  workers gone after the supervisor's kill -9: {gone}")
    ing.start(2)


def pg_outage(
    ing: _BenchIngest, pub: _LazyStream, db: str, dsn: str, a: argparse.Namespace
) -> None:
    ing.start(2)
    pub.start()
    _wait(lambda: registry_state(dsn)[0] >= a.count // 4, 120)
    ing.pg.stop()
    time.sleep(a.pg_outage)
    ing.pg.start()


def scale(ing: _BenchIngest, pub: _LazyStream, db: str, dsn: str, a: argparse.Namespace) -> None:
    ing.start(3)
    pub.start()
    for workers, part in ((2, 1), (1, 2), (3, 3)):  # 3 -> 2 -> 1 -> 3
        target = a.count * part // 4
        _wait(lambda t=target: _uplinks(ing.influxd, db) >= t, 120)  # type: ignore[misc]
        ing.stop()
        ing.start(workers)


SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "worker-kill": ("kill -9 of one worker (2 workers)", worker_kill),
    "supervisor-kill": ("kill -9 of the supervisor, then a new start", supervisor_kill),
    "pg-outage": ("PostgreSQL stopped mid-stream (2 workers)", pg_outage),
    "scale": ("3 -> 2 -> 1 -> 3 workers mid-stream", scale),
}


def run_one(
    key: str, broker: Mosquitto, influxd: Influxd, pg: Postgres, a: argparse.Namespace
) -> dict[str, object]:
    what, scenario = SCENARIOS[key]
    db = f"bench_{key.replace('-', '_')}_{a.registry}"
    influxd.create_database(db)
    with tempfile.TemporaryDirectory(prefix="lm-scaleout-") as tmp:
        dsn = f"sqlite:///{tmp}/registry.db" if a.registry == "sqlite" else pg.create_database(db)
        ing = _BenchIngest(_env(broker, influxd, db, dsn, Path(tmp) / "data"), Path(tmp) / "log")
        ing.influxd, ing.pg = influxd, pg
        messages = stream(a.count, seed=hash(key) % 1000, devices=a.devices)
        pub = _LazyStream(broker.port, messages, a.rate)
        t0 = time.monotonic()
        try:
            scenario(ing, pub, db, dsn, a)
            pub.join(a.count / a.rate * 4 + 120)
            f = figures(influxd, db, dsn, messages, timeout=300)
        finally:
            with contextlib.suppress(Exception):
                ing.stop()
        text = ing.log_text()
        f["seconds"] = round(time.monotonic() - t0, 1)
        f["warning_or_error_lines"] = sum(
            1 for ln in text.splitlines() if " WARNING " in ln or " ERROR " in ln
        )
        f["worker_restarts"] = text.count("; restart ")
        f["sessions_drained"] = text.count("nothing left behind")
        print(summary(what, f), flush=True)
        print(
            f"  {f['seconds']} s, {f['warning_or_error_lines']} WARNING/ERROR lines, "
            f"{f['worker_restarts']} worker restarts, {f['sessions_drained']} sessions drained",
            flush=True,
        )
        return f


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--rate", type=float, default=1500)
    ap.add_argument("--pg-outage", type=float, default=20.0)
    ap.add_argument("--only", default=",".join(SCENARIOS))
    ap.add_argument(
        "--registry",
        choices=["postgres", "sqlite"],
        default="postgres",
        help="the workers' shared registry (sqlite: one file on this host; pg-outage needs postgres)",
    )
    a = ap.parse_args()
    ok = True
    with running_mosquitto() as broker, running_influxd() as influxd, running_postgres() as pg:
        for key in a.only.split(","):
            f = run_one(key.strip(), broker, influxd, pg, a)
            n = f["published"]
            ok &= f["readings"] == n and f["journal"] == n and bool(f["status_exact"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
