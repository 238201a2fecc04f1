"""``lorawan-monitor devices``: import a devices file into the registry, list devices.

    lorawan-monitor devices import devices.yaml [--dry-run]
    lorawan-monitor devices list [--category C] [--site S] [--overdue] [--errors]
                                 [--search TEXT] [--offset N] [--limit N] [--json]

The registry is the one in the settings (``LORAWAN_STORAGE__REGISTRY_URL``, default
``sqlite:///<data_dir>/registry.db``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from lorawan_monitor.settings import load_settings
from storage.devices_file import import_devices, load_devices_file, unknown_models
from storage.registry import SqlRegistry
from storage.registry_base import DeviceStatus


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("devices", help="import a devices file, list the registry's devices")
    dsub = p.add_subparsers(dest="devices_command", metavar="ACTION", required=True)
    imp = dsub.add_parser("import", help="create/update devices from a YAML or CSV file")
    imp.add_argument("file", help="devices file (.yaml/.yml or .csv)")
    imp.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    imp.set_defaults(func=run_import)
    ls = dsub.add_parser("list", help="list devices with their status")
    ls.add_argument("--category", choices=["environment", "tourism", "traffic"])
    ls.add_argument("--site")
    ls.add_argument("--overdue", action="store_true", help="only devices overdue now")
    ls.add_argument("--errors", action="store_true", help="only devices whose last decode failed")
    ls.add_argument("--search", help="text in DevEUI, device id, name, site or notes")
    ls.add_argument("--offset", type=int, default=0)
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    ls.set_defaults(func=run_list)


def _registry() -> SqlRegistry:
    s = load_settings()
    return SqlRegistry(s.storage.registry_dsn(), journal_per_device=s.storage.journal_per_device)


def run_import(args: argparse.Namespace) -> int:
    from lorawan_monitor.wiring import build_decoders

    entries = load_devices_file(args.file)  # ConfigError -> exit 2 with the line and field
    warnings = unknown_models(entries, build_decoders(load_settings()), name=str(args.file))
    for w in warnings:
        sys.stderr.write(f"warning: {w}\n")
    if args.dry_run:
        verdict = (
            f"{len(warnings)} with a model that has no decoder (see above)"
            if warnings
            else "all valid"
        )
        sys.stdout.write(f"{args.file}: {len(entries)} devices, {verdict}\n")
        return 0
    reg = _registry()
    try:
        n = import_devices(reg, entries)
    finally:
        reg.close()
    sys.stdout.write(f"{args.file}: {n} devices imported\n")
    return 0


def run_list(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    reg = _registry()
    try:
        devices, total = reg.list_devices(
            category=args.category,
            site=args.site,
            overdue_at=now if args.overdue else None,
            decode_errors=True if args.errors else None,
            search=args.search,
            offset=args.offset,
            limit=args.limit,
        )
    finally:
        reg.close()
    if args.json:
        for d in devices:
            sys.stdout.write(json.dumps(_as_json(d, now), default=str) + "\n")
        return 0
    cols = ("DEVICE", "NAME", "MODEL", "LAST SEEN", "UPLINKS", "MISSED", "STATUS")
    rows = [cols] + [_as_row(d, now) for d in devices]
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    for r in rows:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        sys.stdout.write("\n")
    sys.stdout.write(f"{len(devices)} of {total} devices\n")
    return 0


def _age(d: DeviceStatus, now: datetime) -> str:
    if d.last_seen is None:
        return "never"
    s = int((now - d.last_seen).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit} ago"
    return f"{max(s, 0)}s ago"


def _as_row(d: DeviceStatus, now: datetime) -> tuple[str, ...]:
    status: str = d.last_status or "-"
    if d.last_error:
        status += f": {d.last_error[:60]}"
    if d.overdue(now):
        status = "OVERDUE " + status
    return (
        d.device_key,
        d.meta.name or "",
        d.model_id or "",
        _age(d, now),
        str(d.uplink_count),
        f"{d.fcnt_missed} ({d.missed_percent:.1f}%)",
        status,
    )


def _as_json(d: DeviceStatus, now: datetime) -> dict[str, Any]:
    return {
        "device_key": d.device_key,
        "dev_eui": d.dev_eui,
        "name": d.meta.name,
        "model_id": d.model_id,
        "category": d.meta.category,
        "site": d.meta.site,
        "last_seen": d.last_seen.isoformat() if d.last_seen else None,
        "uplink_count": d.uplink_count,
        "fcnt_missed": d.fcnt_missed,
        "fcnt_resets": d.fcnt_resets,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "overdue": d.overdue(now),
    }
