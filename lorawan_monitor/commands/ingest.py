"""``lorawan-monitor ingest``: subscribe to the broker, decode, buffer, write. Runs until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from lorawan_monitor.errors import ConfigError
from lorawan_monitor.settings import load_settings

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ingest",
        help="receive uplinks from MQTT (TTS / ChirpStack), decode, store",
        description="Settings come from LORAWAN_* environment variables (see README / .env.example).",
    )
    p.add_argument(
        "--no-registry", action="store_true", help="do not keep device status (benchmarks)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()  # first: a bad setting exits before anything starts

    from ingest.service import IngestService
    from lorawan_monitor.wiring import (
        build_decoders,
        build_registry,
        build_store,
        import_devices_file,
    )

    registry = None if args.no_registry else build_registry(settings)
    if registry is not None:
        import_devices_file(settings, registry)
    service = IngestService(
        settings,
        store=build_store(settings),
        registry=registry,
        decoders=build_decoders(settings),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if settings.ingest.metrics_port:
        from prometheus_client import start_http_server

        try:
            start_http_server(settings.ingest.metrics_port, addr=settings.ingest.metrics_host)
        except OSError as exc:
            raise ConfigError(
                f"LORAWAN_INGEST__METRICS_PORT: cannot listen on "
                f"{settings.ingest.metrics_host}:{settings.ingest.metrics_port} ({exc.strerror}); "
                "another ingest worker on this host needs its own port, or 0 to switch it off"
            ) from exc
    service.start()
    log.info(
        "ingest running: broker %s:%s, store %s",
        settings.mqtt.host,
        settings.mqtt.port,
        settings.influx.url or f"SQLite in {settings.storage.data_dir}",
    )
    stop.wait()
    log.info("stopping: flushing the buffer")
    service.stop()
    if registry is not None:
        registry.close()
    return 0
