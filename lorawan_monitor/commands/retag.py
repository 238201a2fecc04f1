"""``lorawan-monitor retag``: bring stored points' ``name`` and ``site`` tags up to the registry.

Run it after importing or editing the devices file: the dashboards' legends, tables and
device variable read the tags ``name`` and ``site``, which ingest writes from the registry
at the time a point is stored. ``retag`` rewrites older points with the registry's current
name and site (see ``dashboards/retag.py``). InfluxDB v1 API only. Settings (store,
registry) come from the LORAWAN_* environment.

Exit codes: 0 done, 1 the store or registry failed, 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import sys

from lorawan_monitor.errors import ConfigError, SinkError
from lorawan_monitor.settings import load_settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "retag",
        help="rewrite stored points with the registry's current device name and site",
    )
    p.add_argument("--device", default=None, help="only this device (DevEUI or device id)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    from dashboards.retag import InfluxV1, Wanted, client_for, credentials, retag
    from lorawan_monitor.wiring import build_registry

    settings = load_settings()
    inf = settings.influx
    headers, auth = credentials(inf)
    try:
        client = client_for(inf.url, inf.api, headers, auth)
    except ConfigError as exc:
        sys.stderr.write(f"retag: {exc}\n")
        return 2
    registry = build_registry(settings)
    try:
        wanted = []
        offset = 0
        while True:
            page, total = registry.list_devices(offset=offset, limit=500)
            for d in page:
                if args.device and args.device not in (d.dev_eui, d.device_id):
                    continue
                wanted.append(
                    Wanted(
                        dev_eui=(d.dev_eui or "").upper(),
                        name=d.meta.name or d.device_id,
                        site=d.meta.site or settings.ingest.default_site,
                    )
                )
            offset += len(page)
            if not page or offset >= total:
                break
        summary = retag(InfluxV1(client, inf.database), wanted)
    except SinkError as exc:
        sys.stderr.write(f"retag: {exc}\n")
        return 1
    finally:
        registry.close()
        client.close()
    changed = sum(summary.changed.values())
    sys.stdout.write(
        f"retag: {summary.devices} devices, {summary.series} series checked, {changed} "
        f"rewritten ({summary.points} points)\n"
    )
    for m, n in sorted(summary.changed.items()):
        sys.stdout.write(f"  {m}: {n} series\n")
    return 0
