"""``lorawan-monitor simulate``: virtual devices publishing real envelopes to a broker."""

from __future__ import annotations

import argparse
import logging
import sys

from lorawan_monitor.settings import load_settings

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate",
        help="publish simulated uplinks (TTS v3 / ChirpStack envelopes) to an MQTT broker",
    )
    p.add_argument("--host", help="broker host (default: LORAWAN_MQTT__HOST)")
    p.add_argument("--port", type=int, help="broker port (default: LORAWAN_MQTT__PORT)")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument(
        "--network",
        choices=["tts", "chirpstack", "chirpstack-v3", "mixed"],
        default="mixed",
        help="which network server's envelopes to publish (mixed: TTS and ChirpStack v4)",
    )
    p.add_argument(
        "--applications",
        default="",
        help="comma-separated application names (TTS application id, ChirpStack application "
        "name): the devices are dealt out over them in turn, as several applications of one "
        "municipality (default: one application, municipal-sensors)",
    )
    p.add_argument("--devices", type=int, default=24, help="number of healthy virtual devices")
    p.add_argument("--broken", type=int, default=0, help="devices sending undecodable payloads")
    p.add_argument("--count", type=int, default=1000, help="uplinks to publish")
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="messages per second (default: as fast as possible)",
    )
    p.add_argument("--malformed", type=int, default=0, help="malformed messages to mix in")
    p.add_argument(
        "--start",
        default=None,
        help="time of the first uplink (ISO 8601; default: now - count*interval)",
    )
    p.add_argument("--qos", type=int, choices=[0, 1, 2], default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--models",
        default="",
        help="also simulate one device per model id (comma-separated, or 'all' for every "
        "supported model), replaying the vendor example payloads of its decoder",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from simulator.fleet import default_fleet, generate
    from simulator.publisher import Publisher

    settings = load_settings()
    networks = {"mixed": ("tts", "chirpstack")}.get(args.network, (args.network,))
    fleet = default_fleet(args.devices, broken=args.broken, networks=networks)  # type: ignore[arg-type]
    if args.models:
        from decoders.catalog import NATIVE
        from simulator.fleet import vector_devices

        wanted = list(NATIVE) if args.models == "all" else args.models.split(",")
        fleet += vector_devices([m for m in wanted if not m.startswith("example/")], networks[0])  # type: ignore[arg-type]
    apps = [a.strip() for a in args.applications.split(",") if a.strip()]
    if apps:
        fleet = [
            dataclasses.replace(d, application=apps[i % len(apps)]) for i, d in enumerate(fleet)
        ]
    if args.start:
        start = datetime.fromisoformat(args.start)
    else:
        per_device = max(1, args.count // max(1, len(fleet)))
        start = datetime.now(UTC) - timedelta(seconds=600 * per_device)
    host = args.host or settings.mqtt.host
    port = args.port or settings.mqtt.port
    user = args.username or settings.mqtt.username
    password = args.password or (
        settings.mqtt.password.get_secret_value() if settings.mqtt.password else None
    )
    pub = Publisher(host, port, username=user, password=password, qos=args.qos)
    try:
        n = pub.publish(
            generate(
                fleet, start=start, count=args.count, malformed_count=args.malformed, seed=args.seed
            ),
            rate=args.rate,
        )
    finally:
        pub.close()
    sys.stdout.write(f"published {n} messages from {len(fleet)} devices to {host}:{port}\n")
    return 0
