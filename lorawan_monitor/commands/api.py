"""``lorawan-monitor api``: serve the REST API, /metrics and the installer page (uvicorn).

The store is InfluxDB when ``LORAWAN_INFLUX__URL`` is set, else the embedded SQLite
store in ``LORAWAN_STORAGE__DATA_DIR``; the registry is ``LORAWAN_STORAGE__REGISTRY_URL``
(SQLite in the data dir by default). Host and port: ``LORAWAN_API__HOST`` / ``__PORT``.
"""

from __future__ import annotations

import argparse
import logging

from lorawan_monitor.settings import load_settings

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "api",
        help="serve the REST API, /metrics and the installer page",
        description="Serve /api/v1, /metrics and /installer. Settings come from LORAWAN_* "
        "environment variables; --host/--port override LORAWAN_API__HOST/PORT.",
    )
    p.add_argument("--host", help="listen address (default: LORAWAN_API__HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default: LORAWAN_API__PORT, 8080)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()  # first: a bad setting exits before anything starts

    import uvicorn

    from api.main import create_app
    from lorawan_monitor.wiring import build_alerts, build_decoders, build_registry, build_store

    host = args.host or settings.api.host
    port = args.port or settings.api.port
    store = build_store(settings)
    from lorawan_monitor.health import ServiceState

    state = ServiceState()  # this API's own readiness: the registry database it reads
    registry = build_registry(settings, state=state)
    alerting = build_alerts(settings, registry, store)
    if alerting is not None:
        alerting.start()
    try:
        app = create_app(
            settings,
            store=store,
            registry=registry,
            decoders=build_decoders(settings),
            state=state,
            alert_db=alerting.db if alerting is not None else None,
        )
        if not settings.api.api_keys:
            log.warning("no API keys configured (LORAWAN_API__API_KEYS): edits are disabled")
        log.info(
            "API on http://%s:%d/api/v1  installer: http://%s:%d/installer", host, port, host, port
        )
        uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower())
    finally:
        if alerting is not None:
            alerting.stop()
        registry.close()
        store.close()
    return 0
