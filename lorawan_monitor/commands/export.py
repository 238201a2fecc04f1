"""``lorawan-monitor export``: aggregated readings of public devices as OpenData files.

    lorawan-monitor export --category tourism --interval 1d --from 2026-03-23 \\
        --to 2026-04-01 --format csv --out DIR

``--from``/``--to`` are local dates (Europe/Berlin), ``YYYY-MM-DD`` or ``DD.MM.YYYY``;
``--to`` is exclusive (the metadata's ``endDate`` is the last day included). Categories
may be given in German (``umwelt``, ``tourismus``, ``verkehr``). Every export folder holds
the data file(s), ``stations.geojson``, ``README.md`` and ``metadata.jsonld``.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from lorawan_monitor.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from opendata.config import OpenDataSettings
    from opendata.files import Export


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="write aggregated OpenData files (CSV / JSON + README)")
    add_export_args(p)
    p.add_argument("--format", choices=("csv", "json", "all"), default="all")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(func=run)


#: category names as people type them -> the registry's names
CATEGORIES = {
    "environment": "environment", "umwelt": "environment",
    "tourism": "tourism", "tourismus": "tourism",
    "traffic": "traffic", "verkehr": "traffic", "mobilitaet": "traffic", "mobilität": "traffic",
}  # fmt: skip
_GERMAN_DATE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*$")


def local_date(text: str) -> date:
    """``YYYY-MM-DD`` or the German ``DD.MM.YYYY`` (argparse type)."""
    m = _GERMAN_DATE.fullmatch(text)
    try:
        if m:
            return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: use YYYY-MM-DD or DD.MM.YYYY (e.g. 2026-12-03 or 03.12.2026)"
        ) from None


def category(text: str) -> str:
    """A category, in English or German (argparse type); anything else is an error, not
    an export with 0 rows."""
    try:
        return CATEGORIES[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"unknown category {text!r}: use environment (umwelt), tourism (tourismus) "
            "or traffic (verkehr)"
        ) from None


def add_export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--category", type=category,
                   help="environment | tourism | traffic, or umwelt | tourismus | verkehr "
                   "(default: all)")  # fmt: skip
    p.add_argument("--interval", default="1d", help="15m | 1h | 1d | 1mo (default 1d)")
    p.add_argument("--from", dest="first", type=local_date, required=True,
                   help="first local date, YYYY-MM-DD or DD.MM.YYYY")  # fmt: skip
    p.add_argument("--to", dest="end", type=local_date, required=True,
                   help="local date after the last one (exclusive), YYYY-MM-DD or "
                   "DD.MM.YYYY")  # fmt: skip


def make_export(args: argparse.Namespace) -> tuple[Export, OpenDataSettings]:
    """(export, opendata settings) from the service settings and the arguments."""
    from pydantic import ValidationError

    from lorawan_monitor.settings import load_settings
    from lorawan_monitor.wiring import build_registry, build_store
    from opendata.config import OpenDataSettings
    from opendata.service import build_export

    if args.end <= args.first:
        raise UsageError(
            f"--to ({args.end}) must be after --from ({args.first}); --to is the day after "
            f"the last one exported (for one day: --from {args.first} --to "
            f"{args.first + timedelta(days=1)})"
        )
    settings = load_settings()
    try:
        cfg = OpenDataSettings()
    except ValidationError as exc:
        raise ConfigError(f"LORAWAN_OPENDATA__*: {exc}") from exc
    store, registry = build_store(settings), build_registry(settings)
    try:
        export = build_export(
            store, registry, cfg, first=args.first, end=args.end,
            interval=args.interval, category=args.category,
        )  # fmt: skip
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        store.close()
        registry.close()
    return export, cfg


def run(args: argparse.Namespace) -> int:
    from opendata.files import write_export

    export, cfg = make_export(args)
    paths = write_export(export, cfg, args.out)
    if args.format != "all":
        drop = "data.json" if args.format == "csv" else "data.csv"
        paths.pop(drop).unlink()
    sys.stdout.write(
        f"{len(export.rows)} rows, {len(export.stations)} public stations -> {args.out}\n"
        + "".join(f"  {p}\n" for p in paths.values())
    )
    return 0
