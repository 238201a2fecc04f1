"""``lorawan-monitor ingest``: subscribe to the broker, decode, buffer, write. Runs until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from lorawan_monitor.errors import ConfigError
from lorawan_monitor.settings import Settings, load_settings

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
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run N worker processes on one MQTT 5 shared subscription (one per core; "
        "group LORAWAN_MQTT__SHARE_GROUP, default 'lorawan-monitor')",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()  # first: a bad setting exits before anything starts
    from ingest.sources import check_workers, transport_factory

    check_workers(settings, args.workers)  # sources (#16): refused where it cannot work
    if args.workers > 1:
        return _supervise(args, settings)

    from ingest.service import IngestService
    from lorawan_monitor.wiring import (
        build_decoders,
        build_registry,
        build_store,
        import_devices_file,
        tune_gc,
    )

    registry = None if args.no_registry else build_registry(settings)
    if registry is not None:
        import_devices_file(settings, registry)
    service = IngestService(
        settings,
        store=build_store(settings),
        registry=registry,
        decoders=build_decoders(settings),
        transport_factory=transport_factory(settings),  # several sources (#16); else None
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
    tune_gc()
    service.start()
    log.info(  # "connected" follows from the transport, or an ERROR saying what to check
        "ingest started: connecting to %s; store %s",
        ", ".join(f"source {s.name} ({s.host}:{s.port})" for s in settings.sources)
        or f"MQTT broker {settings.mqtt.host}:{settings.mqtt.port}",
        settings.influx.url or f"SQLite in {settings.storage.data_dir}",
    )
    stop.wait()
    log.info("stopping: flushing the buffer")
    service.stop()
    if registry is not None:
        registry.close()
    return 0


def _supervise(args: argparse.Namespace, settings: Settings) -> int:
    """Start ``--workers`` ingest processes that split one stream over a shared subscription.

    Each worker gets its own client id (``<id>-<n>``, stable, so its broker session survives
    restarts), its own durable buffer (``<data_dir>/worker-<n>``) and metrics port
    (``port + n - 1``); they share the registry and the time-series store.
    """
    import json
    import os
    import sys

    from ingest.transport.mqtt import default_client_id

    if settings.mqtt.protocol_version() != 5:
        raise ConfigError(
            "--workers needs MQTT 5 shared subscriptions; The Things Stack's MQTT server speaks "
            "3.1.1 only (run one ingest per TTS application instead)"
        )
    if not args.no_registry:
        # migrate the shared registry once, here: N workers migrating a fresh SQLite
        # database at the same moment would race
        from lorawan_monitor.wiring import build_registry

        build_registry(settings).close()
    group = settings.mqtt.share_group or "lorawan-monitor"
    base_id = settings.mqtt.client_id or default_client_id()
    registry = settings.storage.registry_dsn()
    workers = []
    for n in range(1, args.workers + 1):
        workers.append(
            {
                "set": {
                    "LORAWAN_MQTT__SHARE_GROUP": group,
                    "LORAWAN_MQTT__CLIENT_ID": f"{base_id}-{n}",
                    "LORAWAN_STORAGE__DATA_DIR": str(settings.storage.data_dir / f"worker-{n}"),
                    "LORAWAN_STORAGE__REGISTRY_URL": registry,
                    "LORAWAN_INGEST__METRICS_PORT": str(
                        settings.ingest.metrics_port + n - 1 if settings.ingest.metrics_port else 0
                    ),
                },
                # the devices file is imported once, by worker 1
                "unset": ["LORAWAN_INGEST__DEVICES_FILE"] if n > 1 else [],
            }
        )
    cmd = [sys.executable, "-m", "lorawan_monitor.cli", "ingest"]
    if args.no_registry:
        cmd.append("--no-registry")
    spec = {"group": group, "cmd": cmd, "workers": workers}
    # Become the lean supervisor: a fresh interpreter without this process's imports
    # (settings, SQLAlchemy, alembic: ~60 MB that would stay resident just to watch).
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execv(
        sys.executable,
        [sys.executable, "-m", "lorawan_monitor.commands._supervisor", json.dumps(spec)],
    )
    return 1  # not reached: execv replaces this process
