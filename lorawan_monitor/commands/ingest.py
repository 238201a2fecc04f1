"""``lorawan-monitor ingest``: subscribe to the broker, decode, buffer, write. Runs until stopped.

``--workers N`` runs a supervisor (lorawan_monitor/supervisor.py) and N worker processes;
``--leave`` takes this data dir's broker sessions out of the share group for good.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import threading
from typing import Any

from lorawan_monitor.errors import ConfigError
from lorawan_monitor.settings import Settings, load_settings
from lorawan_monitor.supervisor import (
    ENV_DRAIN,
    ENV_INDEX,
    ENV_NAME,
    ENV_ROOT_LOCKED,
    EXIT_LOCKED,
    DataDirLock,
    Layout,
    change_layout,
    drain,
    exec_supervisor,
    ingest_command,
    members_for,
    watch_supervisor,
)

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
    p.add_argument(
        "--leave",
        action="store_true",
        help="take this data dir's broker sessions out of the share group for good: "
        "process what the broker queued for them, write it out, end the sessions, exit "
        "(a host leaving a group of several; see docs/delivery.md)",
    )
    # internal: started by the supervisor
    p.add_argument("--drain", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def _base_client_id(settings: Settings) -> str:
    # the default of ingest.transport.mqtt.default_client_id, without importing paho here
    return settings.mqtt.client_id or f"lorawan-monitor-{socket.gethostname()}"


def _topics(settings: Settings) -> list[str]:
    return settings.mqtt.model_copy(update={"share_group": None}).topic_filters()


def run(args: argparse.Namespace) -> int:
    settings = load_settings()  # first: a bad setting exits before anything starts
    from ingest.sources import check_workers

    check_workers(settings, args.workers)  # sources (#16): refused where it cannot work
    if args.prepare:
        return _prepare(args, settings)
    if args.drain:
        return _drain_member(args, settings)
    if os.environ.get(ENV_NAME):  # a worker of a supervisor
        lock = DataDirLock(settings.storage.data_dir)
        try:  # a worker of an earlier supervisor may still be finishing there
            lock.acquire(wait=30.0, what="ingest worker")
        except ConfigError as exc:
            log.error("%s", exc)
            return EXIT_LOCKED
        if os.environ.get(ENV_INDEX):  # ingest --workers N with sources (#16)
            from ingest.sources import for_worker

            settings = for_worker(settings, int(os.environ[ENV_INDEX]))
        return _serve(args, settings)
    data_dir = settings.storage.data_dir
    lock = DataDirLock(data_dir)  # held (referenced) until this function returns
    lock.acquire(what="ingest")
    extra = ["--no-registry"] if args.no_registry else []
    # workers and drains share this registry (its default lies in the root data dir)
    env = dict(os.environ)
    env["LORAWAN_STORAGE__REGISTRY_URL"] = settings.storage.registry_dsn()
    if args.leave:
        return _leave(settings, args.workers, env, extra)
    if args.workers > 1 and settings.mqtt.protocol_version() != 5:
        raise ConfigError(
            "--workers needs MQTT 5 shared subscriptions; The Things Stack's MQTT server speaks "
            "3.1.1 only (run one ingest per TTS application instead)"
        )
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    members = members_for(
        args.workers,
        _base_client_id(settings),
        data_dir,
        _topics(settings),
        settings.mqtt.share_group,
    )
    if args.workers > 1 and not args.no_registry:
        # open (and migrate) the shared registry once before the workers start: a bad
        # LORAWAN_STORAGE__REGISTRY_URL is one clear error here, not N workers restarting
        # (in a subprocess: the supervisor stays light)
        code = subprocess.call(ingest_command("--prepare"), env=env)
        if code != 0:
            return code
    change_layout(data_dir, members, env, extra)
    if args.workers == 1:
        return _serve(args, settings)
    # the supervisor itself runs in a fresh interpreter of only the standard library (#19)
    exec_supervisor(
        members,
        env,
        lock=lock,
        extra_args=extra,
        metrics_port=settings.ingest.metrics_port,
        verbose=bool(getattr(args, "verbose", False)),
    )
    return 1  # pragma: no cover (execve does not return)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def _prepare(args: argparse.Namespace, settings: Settings) -> int:
    from lorawan_monitor.wiring import build_registry

    build_registry(settings).close()
    return 0


def _leave(settings: Settings, workers: int, env: dict[str, str], extra: list[str]) -> int:
    """Drain every member recorded for this data dir (or, with none recorded, the ones
    ``--workers`` would have), so the broker keeps nothing for them."""
    data_dir = settings.storage.data_dir
    layout = Layout.load(data_dir)
    members = layout.members + [m for m in layout.retired if m not in layout.members]
    if not members:
        members = members_for(
            workers,
            _base_client_id(settings),
            data_dir,
            _topics(settings),
            settings.mqtt.share_group,
        )
    failed = drain(members, env, root=data_dir, extra_args=extra)
    Layout(members=[], retired=failed).save(data_dir)
    if failed:
        log.error(
            "%d of %d sessions could not be drained; run --leave again", len(failed), len(members)
        )
        return 1
    log.info("left the share group: %d broker sessions drained and ended", len(members))
    return 0


def _build(args: argparse.Namespace, settings: Settings) -> tuple[Any, Any]:
    from ingest.service import IngestService
    from ingest.sources import transport_factory
    from lorawan_monitor.health import ServiceState
    from lorawan_monitor.wiring import (
        build_decoders,
        build_registry,
        build_store,
        import_devices_file,
    )

    state = ServiceState()  # the service's readiness, the registry's outages included
    registry = None if args.no_registry else build_registry(settings, state=state)
    if registry is not None and not args.drain:
        import_devices_file(settings, registry)
    service = IngestService(
        settings,
        store=build_store(settings),
        registry=registry,
        decoders=build_decoders(settings),
        # several sources (#16); else None. A drain resumes their sessions unsubscribed
        transport_factory=transport_factory(settings, subscribe=not args.drain),
        state=state,
    )
    return service, registry


def _drain_member(args: argparse.Namespace, settings: Settings) -> int:
    """Take over a retired member's session and buffer, then end the session."""
    topics = json.loads(os.environ.get(ENV_DRAIN) or "[]")
    if os.environ.get(ENV_INDEX):  # a worker of ingest --workers N with sources (#16)
        from ingest.sources import for_worker

        # the sources, client ids and share groups that worker had: its sessions there
        settings = for_worker(settings, int(os.environ[ENV_INDEX]))
    data_dir = settings.storage.data_dir
    if not os.environ.get(ENV_ROOT_LOCKED):  # a worker's own dir (the root is locked already)
        lock = DataDirLock(data_dir)
        try:
            lock.acquire(wait=60.0, what="ingest worker")
        except ConfigError as exc:
            log.error("%s", exc)
            return EXIT_LOCKED
    service, registry = _build(args, settings)
    service.start(subscribe=False)
    try:
        ok = service.retire(topics, timeout=240.0)
    finally:
        if registry is not None:
            registry.close()
    log.info(
        "drained %s: %d messages, %s",
        settings.mqtt.client_id,
        service.received,
        "nothing left behind" if ok else "NOT complete",
    )
    return 0 if ok else 1


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from lorawan_monitor.wiring import tune_gc

    service, registry = _build(args, settings)
    stop = _stop_on_signals()
    watch_supervisor(stop.set)
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
