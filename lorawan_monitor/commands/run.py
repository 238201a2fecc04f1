"""``lorawan-monitor run``: ingest and the API in one process (a single-host installation).

Readiness (``/api/v1/health/ready``) then covers the broker connection and the buffer,
and ``/metrics`` carries the ingest counters. For several ingest workers run
``ingest`` processes (shared subscription) and one ``api`` instead.
"""

from __future__ import annotations

import argparse
import logging
import signal

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
    tune_gc()
    service.start()
    if alerting is not None:
        alerting.start()
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
        if alerting is not None:
            alerting.stop()
        service.stop()
        registry.close()
        ingest_store.close()
        api_store.close()
    return 0
