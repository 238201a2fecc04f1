"""``lorawan-monitor redecode``: run the current decoder again over journaled raw uplinks.

After a codec fix or a late model assignment (``devices`` / API model override), the
registry's journal of raw uplinks is decoded again and the readings are written to the
store with the same tags and timestamps as ingest would have used (idempotent: running
it twice changes nothing). Progress goes to stderr every ``--every`` uplinks; the summary
is printed on stdout. Settings (store, registry) come from the LORAWAN_* environment.

Exit codes: 0 done, 1 the store or registry failed, 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from lorawan_monitor.errors import ConfigError, SinkError
from lorawan_monitor.settings import load_settings


def _when(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-05-01 or 2026-05-01T12:00:00Z)"
        ) from exc
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "redecode",
        help="decode journaled raw uplinks again (after a codec fix or a model assignment)",
        description="Re-run the current decoder over the registry's journal of raw uplinks "
        "of one model in [--from, --to) and write their readings again (idempotent). "
        "Times without a zone are UTC.",
    )
    p.add_argument("--model", required=True, help="model id, e.g. dragino/lht65")
    p.add_argument("--from", dest="start", required=True, type=_when, help="ISO time (inclusive)")
    p.add_argument("--to", dest="end", required=True, type=_when, help="ISO time (exclusive)")
    p.add_argument("--device", default=None, help="only this device (DevEUI or device id)")
    p.add_argument(
        "--dry-run", action="store_true", help="decode and report, write nothing anywhere"
    )
    p.add_argument(
        "--every", type=int, default=500, metavar="N", help="show progress every N uplinks"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.end <= args.start:
        raise ConfigError("--to must be after --from")
    if args.every < 1:
        raise ConfigError("--every must be at least 1")

    from ingest.redecode import RedecodeSummary, redecode
    from lorawan_monitor.wiring import build_decoders, build_registry, build_store

    decoders = build_decoders(settings)
    if decoders.find(args.model) is None:
        raise ConfigError(f"no decoder for model {args.model!r} (see 'lorawan-monitor decoders')")

    def progress(done: int, total: int, s: RedecodeSummary) -> None:
        sys.stderr.write(
            f"redecode: {done}/{total} uplinks, {s.decoded} decoded, {s.points} points\n"
        )
        sys.stderr.flush()

    registry = build_registry(settings)
    store = build_store(settings)
    try:
        summary = redecode(
            registry,
            store,
            model_id=args.model,
            start=args.start,
            end=args.end,
            device=args.device,
            dry_run=args.dry_run,
            decoders=decoders,
            default_site=settings.ingest.default_site,
            batch=args.every,
            progress=progress,
        )
    except SinkError as exc:
        sys.stderr.write(f"lorawan-monitor redecode: {exc}\n")
        return 1
    finally:
        store.close()
        registry.close()
    sys.stdout.write(
        f"redecode {args.model} {args.start.isoformat()} .. {args.end.isoformat()}"
        f"{' (dry run)' if args.dry_run else ''}: {summary.line()}\n"
    )
    return 0
