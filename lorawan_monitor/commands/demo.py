"""``lorawan-monitor demo``: the whole service in one process on embedded defaults.

An embedded MQTT broker (amqtt) on a free loopback port, the simulator publishing a
mixed fleet (The Things Stack and ChirpStack envelopes, a few devices with broken
payloads, one that has gone silent, one registered but never heard), ingest into the
SQLite stores, and the API + installer page on localhost. Needs nothing but Python.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lorawan_monitor.settings import load_settings

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run everything in one process: embedded broker, simulator, ingest, API",
        description="Embedded MQTT broker + simulated devices + ingest + SQLite + API and "
        "installer page on localhost. Ctrl-C stops it.",
    )
    p.add_argument("--host", default="127.0.0.1", help="API listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="API port (default 8080)")
    p.add_argument("--mqtt-port", type=int, default=0, help="broker port (default: a free one)")
    p.add_argument("--devices", type=int, default=12, help="healthy virtual devices")
    p.add_argument("--broken", type=int, default=2, help="devices sending undecodable payloads")
    p.add_argument("--every", type=float, default=10.0, help="seconds between live uplinks")
    p.add_argument("--history", type=float, default=6.0, help="hours of backlog to publish first")
    p.add_argument("--data-dir", type=Path, help="keep the data here (default: a temp dir)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=run)


class EmbeddedBroker:
    """amqtt on its own asyncio loop in a daemon thread (MQTT 3.1.1, anonymous, loopback)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mqtt-broker")
        self._broker: Any = None

    async def _start(self) -> None:
        from amqtt.broker import Broker

        self._broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                "plugins": {
                    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
                },
            },
            loop=self._loop,
        )
        await self._broker.start()

    def start(self) -> None:
        quiet_libraries()
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(15)

    def stop(self) -> None:
        if self._broker is not None:
            fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            try:
                fut.result(10)
            except Exception as exc:  # shutting down anyway
                log.debug("broker shutdown: %r", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def quiet_libraries() -> None:
    """The embedded broker (amqtt and its state machine library ``transitions``) and the
    registry's migrations log a line per client and step at INFO: ~35 lines that bury
    the demo's own output. Their warnings and errors still show."""
    for name in ("amqtt", "transitions", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _free_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LiveFeed:
    """Publishes one uplink per device every ``every`` seconds, stamped with the time now."""

    def __init__(self, publisher: Any, fleet: list[Any], first_fcnt: int, every: float) -> None:
        self.publisher, self.fleet, self.every = publisher, fleet, every
        self.f_cnt = first_fcnt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from simulator.fleet import uplink

        rng = random.Random(7)
        while not self._stop.wait(self.every):
            now = datetime.now(UTC)
            msgs = [uplink(d, now, self.f_cnt, rng) for d in self.fleet]
            try:
                self.publisher.publish(msgs)
            except Exception as exc:  # the demo keeps going; the installer page shows the gap
                log.warning("simulator could not publish: %r", exc)
            self.f_cnt += 1 + (rng.random() < 0.05)  # now and then a lost uplink (FCnt gap)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.every + 5)


#: the demo's rules (docs/alerts.md explains the format); ``{parking}`` is the key of the
#: parking sensor whose bay fills and empties while the demo runs
DEMO_RULES = """
defaults:
  channels: [log]      # no channel configured: the log shows what would be sent
  repeat: 1h
rules:
  - name: sensor-stumm
    kind: silent
    missed: 2          # two expected uplinks missed
    severity: warning
    title: "Sensor {{device_name}} meldet sich nicht"
    description: "Letzte Nachricht {{last_seen}} (seit {{value_unit}}). Standort: {{site}}."
  - name: nicht-dekodierbar
    kind: decode
    last: 3
    severity: warning
  - name: parkplatz-belegt
    kind: threshold
    select: {{devices: [{parking}]}}
    quantity: presence
    above: 0.5
    severity: info
    title: "Stellplatz {{device_name}} belegt"
    description: "Belegt seit {{since}}."
  - name: batterie-schwach
    kind: battery
    percent: 15
    volts: 2.5
"""


def _write_demo_rules(data_dir: Path, parking_key: str) -> Path:
    path = data_dir / "alert-rules.yaml"
    path.write_text(DEMO_RULES.format(parking=parking_key), encoding="utf-8")
    return path


def _register_extras(registry: Any, silent_key: str, silent_interval: int) -> None:
    from storage.registry_base import DeviceMeta

    registry.update_meta(
        "70B3D57ED00DE000",
        DeviceMeta(
            name="Planned: bridge people counter",
            category="tourism",
            site="old-bridge",
            notes="mounted next week",
        ),
        create=True,
    )
    registry.update_meta(
        silent_key,
        DeviceMeta(name="Silent: park sensor", expected_interval_s=silent_interval),
        create=True,
    )


def _publish_healthy(registry: Any, fleet: Sequence[Any]) -> None:
    """The healthy simulated devices are public, with a site and a position (around a town
    square), so the OpenData export of a demo has stations and rows (#14)."""
    from storage.registry_base import DeviceMeta

    for i, dev in enumerate(fleet):
        if dev.behaviour == "broken":
            continue
        registry.update_meta(
            dev.dev_eui,
            DeviceMeta(
                category=dev.category,
                site=f"demo-{dev.category}",
                latitude=round(48.137 + 0.001 * (i % 5), 6),
                longitude=round(11.575 + 0.001 * (i // 5), 6),
                public=True,
            ),
            create=True,
        )


def run(args: argparse.Namespace) -> int:
    quiet_libraries()  # before the registry's migrations and the broker log anything
    import uvicorn

    from api.main import create_app
    from ingest.service import IngestService
    from simulator.fleet import VirtualDevice, default_fleet, generate
    from simulator.publisher import Publisher
    from storage.registry import SqlRegistry
    from storage.sqlite import SqliteStore

    temp = args.data_dir is None
    data_dir: Path = Path(tempfile.mkdtemp(prefix="lorawan-demo-")) if temp else args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    mqtt_port = args.mqtt_port or _free_port("127.0.0.1")
    api_key = secrets.token_urlsafe(18)
    settings = load_settings(
        mqtt={
            "host": "127.0.0.1",
            "port": mqtt_port,
            "protocol": "3.1.1",
            "envelope": "auto",
            "client_id": "lorawan-monitor-demo",
        },
        storage={"data_dir": data_dir},
        api={"host": args.host, "port": args.port, "api_keys": [api_key]},
        alerts={"interval": 5.0, "group_wait": 5.0},
        # two sources on the embedded broker, as a municipality would have them (#16)
        sources=[
            {"name": name, "kind": kind, "host": "127.0.0.1", "port": mqtt_port}
            | {"protocol": "3.1.1", "client_id": f"lorawan-monitor-demo-{name}"}
            for name, kind in (("tts-umwelt", "tts"), ("chirpstack-stadtwerke", "chirpstack"))
        ],
    )
    broker = EmbeddedBroker("127.0.0.1", mqtt_port)
    broker.start()
    registry = SqlRegistry(settings.storage.registry_dsn())
    store = SqliteStore(data_dir / "timeseries.db")
    from ingest.sources import transport_factory

    service = IngestService(
        settings, store=store, registry=registry, transport_factory=transport_factory(settings)
    )  # the service owns its readiness state; the API below is given the same one
    alerting: Any = None
    server: uvicorn.Server | None = None
    feed: LiveFeed | None = None
    publisher: Any = None
    stop = threading.Event()
    try:
        fleet = default_fleet(args.devices, broken=args.broken)
        silent = VirtualDevice(
            name="sim-silent-park",
            dev_eui="A84041000DE5117E",
            network="tts",
            behaviour="lht65",
            model_id="dragino/lht65",
            interval_s=600,
        )
        _register_extras(registry, silent.dev_eui, silent.interval_s)
        _publish_healthy(registry, fleet)
        parking = next(d for d in fleet if d.behaviour == "lpp-parking")
        from lorawan_monitor.wiring import build_alerts

        alerting = build_alerts(
            settings, registry, store, rules_file=_write_demo_rules(data_dir, parking.dev_eui)
        )
        service.start()
        publisher = Publisher("127.0.0.1", mqtt_port, client_id="lorawan-monitor-demo-sim")
        now = datetime.now(UTC)
        per_device = max(1, int(args.history * 3600 / 600))
        # each device's history ends one of its intervals ago, at its own cadence, so the
        # interval the registry learns from it is the device's own (#14)
        backlog = [
            m
            for dev in fleet
            for m in generate(
                [dev], start=now - timedelta(seconds=dev.interval_s * per_device), count=per_device
            )
        ]
        # the silent device reported until 3 hours ago
        backlog += generate(
            [silent], start=now - timedelta(hours=args.history + 3), count=per_device
        )
        publisher.publish(backlog)
        feed = LiveFeed(publisher, fleet, per_device + 1, args.every)
        feed.start()
        if alerting is not None:
            alerting.start()

        app = create_app(
            settings,
            store=store,
            registry=registry,
            state=service.state,
            alert_db=alerting.db if alerting is not None else None,
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
        )
        api_thread = threading.Thread(target=server.run, name="api", daemon=True)
        api_thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not api_thread.is_alive() or time.monotonic() > deadline:
                sys.stderr.write(
                    f"lorawan-monitor demo: API could not listen on port {args.port}\n"
                )
                return 1
            time.sleep(0.05)

        base = f"http://{'localhost' if args.host == '127.0.0.1' else args.host}:{args.port}"
        sys.stdout.write(
            "\nlorawan-monitor demo is running "
            f"({len(fleet) + 1} simulated devices, {args.broken} with broken payloads)\n"
            f"  installer page : {base}/installer\n"
            f"  API            : {base}/api/v1/devices\n"
            f"  alerts         : {base}/api/v1/alerts  (history: /api/v1/alerts/history)\n"
            f"  alert rules    : {data_dir / 'alert-rules.yaml'} (notifications go to the log)\n"
            f"  SensorThings   : {base}/sta/v1.1/Things  (OGC SensorThings API, public devices)\n"
            f"  API docs       : {base}/docs\n"
            f"  metrics        : {base}/metrics\n"
            f"  MQTT broker    : mqtt://127.0.0.1:{mqtt_port}\n"
            f"  API key (edits): {api_key}\n"
            f"  data           : {data_dir}{' (removed at exit)' if temp else ''}\n"
            "Ctrl-C stops it.\n"
        )
        sys.stdout.flush()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait(args.duration)
        return 0
    finally:
        log.info("demo stopping")
        if server is not None:
            server.should_exit = True
        if feed is not None:
            feed.stop()
        if alerting is not None:
            alerting.stop()
        if publisher is not None:
            publisher.close()
        service.stop()
        broker.stop()
        registry.close()
        store.close()
        if temp:
            shutil.rmtree(data_dir, ignore_errors=True)
