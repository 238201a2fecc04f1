"""``lorawan-monitor refill``: fetch uplinks from The Things Stack's Storage Integration
and run them through ingest (idempotent: what is already stored changes nothing).

The service refills by itself after a restart or a broker reconnect when
``LORAWAN_TTS__API_URL`` and ``__API_KEY`` are set; this command is for a manual refill,
e.g. after the service was down longer than it knew.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from lorawan_monitor.errors import SinkError
from lorawan_monitor.settings import load_settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("refill", help="refill uplinks from The Things Stack Storage Integration")
    p.add_argument(
        "--application",
        action="append",
        help="TTS application id (repeatable; required without --source)",
    )
    p.add_argument(
        "--source",
        help="a TTS source of LORAWAN_SOURCES by name: its Storage Integration (api_url, "
        "api_key, tenant) and, without --application, its application",
    )
    p.add_argument(
        "--since",
        required=True,
        help="ISO 8601 time, or a duration such as 6h / 2d (that long ago)",
    )
    p.set_defaults(func=run)


def _since(value: str) -> datetime:
    units = {"m": 60, "h": 3600, "d": 86400}
    if value[-1:] in units and value[:-1].isdigit():
        return datetime.now(UTC) - timedelta(seconds=int(value[:-1]) * units[value[-1]])
    t = datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    from ingest.sources import refill_target

    try:  # several sources (#16): one source's Storage Integration; else LORAWAN_TTS__*
        tts, applications = refill_target(settings, args.source, args.application)
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    try:
        since = _since(args.since)
    except ValueError:
        sys.stderr.write(f"--since: not a time or duration: {args.since!r}\n")
        return 2

    from ingest.models import RawMessage
    from ingest.refill import TtsStorageClient, refill
    from ingest.service import IngestService
    from lorawan_monitor.wiring import build_decoders, build_registry, build_store

    registry = build_registry(settings)
    service = IngestService(
        settings, store=build_store(settings), registry=registry, decoders=build_decoders(settings)
    )
    service.start(mqtt=False)
    client = TtsStorageClient(tts)
    feed = service.feed
    if args.source:  # as the live stream: tagged with the source's name (#16)
        name = args.source

        def feed(raw: RawMessage) -> None:
            raw.source = name
            service.feed(raw)

    try:
        n = refill(
            client,
            feed,
            applications=dict.fromkeys(applications, since),
            tenant=tts.tenant,
            max_age=datetime.now(UTC) - since + timedelta(minutes=1),
        )
    except SinkError as exc:
        sys.stderr.write(f"refill failed: {exc}\n")
        return 1
    finally:
        client.close()
        service.stop(flush_timeout=120)
        registry.close()
    outcomes = ", ".join(f"{o}/{r}: {c}" for (o, r), c in sorted(service.outcomes.items()))
    sys.stdout.write(
        f"refilled {n} uplinks ({outcomes or 'none'}); "
        f"{service.buffer.depth} points still buffered\n"
    )
    return 0
