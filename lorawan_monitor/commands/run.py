"""``lorawan-monitor run``: ingest and the API in one process (a single-host installation).

Readiness (``/api/v1/health/ready``) then covers the broker connection and the buffer,
and ``/metrics`` carries the ingest counters. For several ingest workers run
``ingest`` processes (shared subscription) and one ``api`` instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from lorawan_monitor.settings import load_settings

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="ingest + REST API + installer page in one process",
        description="Ingest (MQTT -> decode -> buffer -> store) and the REST API with the "
        "installer page and /metrics, in one process: a single-host installation. "
        "Settings come from LORAWAN_* environment variables (see .env.example). For "
        "several ingest workers run `ingest --workers N` and one `api` instead.",
    )
    p.add_argument("--host", help="API listen address (default: LORAWAN_API__HOST)")
    p.add_argument("--port", type=int, help="API listen port (default: LORAWAN_API__PORT)")
    p.set_defaults(func=run)


class ChildProcess:
    """A ``lorawan-monitor`` command as a child of ``run``: started with the same
    environment, dies with its parent (``PR_SET_PDEATHSIG``), restarted with backoff
    (1 s doubling to 60 s) when it exits on its own."""

    def __init__(self, what: str, args: list[str]) -> None:
        self.what = what
        self.cmd = [sys.executable, "-m", "lorawan_monitor.cli", *args]
        self.proc: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tend, name=f"{what}-process", daemon=True)

    def _spawn(self) -> None:
        from lorawan_monitor.supervisor import _pdeathsig

        env = {k: v for k, v in os.environ.items() if k != "LORAWAN_SUPERVISOR_FD"}
        self.proc = subprocess.Popen(self.cmd, env=env, preexec_fn=_pdeathsig())  # noqa: PLW1509
        self._started = time.monotonic()
        log.info("%s running in its own process (pid %d)", self.what, self.proc.pid)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _tend(self) -> None:
        backoff = 1.0
        while not self._stop.wait(0.5):
            proc = self.proc
            if proc is None or proc.poll() is None:
                continue
            if time.monotonic() - self._started > 120:  # it had run a while: start again soon
                backoff = 1.0
            log.error(
                "%s process exited (code %s); restarting in %.0f s",
                self.what,
                proc.returncode,
                backoff,
            )
            if self._stop.wait(backoff):
                return
            self._spawn()
            backoff = min(60.0, 2 * backoff)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


class EvaluatorProcess(ChildProcess):
    """``lorawan-monitor alerts run`` as a child of ``run``. The lease in the registry
    database still keeps evaluation to one acting process."""

    def __init__(self, rules_file: Path | None) -> None:
        args = ["alerts", "run"]
        if rules_file is not None:
            args += ["--rules", str(rules_file)]
        super().__init__("alert evaluator", args)


def rollup_process(every_s: int) -> ChildProcess:
    """``lorawan-monitor dashboards rollup --since 3h --every N``: keeps the hourly uplink
    rollup of the frame-loss panels current (#15), so a single-host installation needs no
    scheduler for it."""
    return ChildProcess(
        "uplink rollup", ["dashboards", "rollup", "--since", "3h", "--every", f"{every_s}s"]
    )


def run(args: argparse.Namespace) -> int:
    settings = load_settings()

    import uvicorn

    from api.main import create_app
    from ingest.service import IngestService
    from lorawan_monitor.health import ServiceState
    from lorawan_monitor.wiring import (
        build_alerts,
        build_decoders,
        build_registry,
        build_store,
        import_devices_file,
        tune_gc,
    )

    state = ServiceState()  # one readiness for the ingest and the API of this process
    registry = build_registry(settings, state=state)
    import_devices_file(settings, registry)
    decoders = build_decoders(settings)
    ingest_store = build_store(settings)
    api_store = build_store(settings)
    from ingest.sources import transport_factory

    service = IngestService(
        settings,
        store=ingest_store,
        registry=registry,
        decoders=decoders,
        transport_factory=transport_factory(settings),  # several sources (#16); else None
        state=state,
    )
    alerting = build_alerts(settings, registry, api_store)  # a bad rules file stops us here
    child: EvaluatorProcess | None = None
    if alerting is not None and settings.alerts.evaluator == "process":
        # evaluation in its own process: it never holds this interpreter's GIL, so ingest
        # keeps its pace (bench/ingest_alerts.py); this process only keeps the gauge current
        alerting.act = False
        child = EvaluatorProcess(settings.alerts.rules_file)
    children: list[ChildProcess] = [child] if child is not None else []
    if settings.influx.url and settings.influx.rollup_every:
        children.append(rollup_process(settings.influx.rollup_every))
    tune_gc()
    service.start()
    if alerting is not None:
        alerting.start()
    for c in children:
        c.start()
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    try:
        app = create_app(
            settings,
            store=api_store,
            registry=registry,
            decoders=decoders,
            state=state,
            alert_db=alerting.db if alerting is not None else None,
        )
        log.info("ingest running; API on http://%s:%d/api/v1, installer /installer", host, port)
        # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; with these handlers
        # in place that lands here, and the ingest below is stopped (buffer flushed) too
        signal.signal(signal.SIGTERM, lambda *_: None)
        signal.signal(signal.SIGINT, lambda *_: None)
        uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower())
    finally:
        log.info("stopping: flushing the buffer")
        for c in children:
            c.stop()
        if alerting is not None:
            alerting.stop()
        service.stop()
        registry.close()
        ingest_store.close()
        api_store.close()
    return 0
