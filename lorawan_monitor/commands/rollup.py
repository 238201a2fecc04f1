"""``lorawan-monitor dashboards rollup``: the hourly frame-counter rollup the loss panels read.

``--since 30d`` (backfill) recomputes every hour from then to now; ``--every 5m`` repeats
that (with ``--since 3h`` or so) until stopped, so late uplinks and refills within the
window are counted. See ``dashboards/rollup.py``. Settings come from the LORAWAN_*
environment (``LORAWAN_INFLUX__URL`` etc.).

Exit codes: 0 done, 1 the store failed, 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from lorawan_monitor.errors import SinkError
from lorawan_monitor.settings import load_settings

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> int:
    """``300s``, ``90m``, ``3h``, ``30d`` -> seconds (argparse type)."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 300s, 90m, 3h or 30d, got {text!r}"
        )
    return int(m.group(1)) * _UNITS[m.group(2)]


def add_action(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = actions.add_parser(
        "rollup", help="fill the hourly uplink rollup the frame-loss panels read (InfluxDB)"
    )
    p.add_argument(
        "--since", type=duration, default=3 * 3600, help="recompute from this long ago (3h)"
    )
    p.add_argument(
        "--every", type=duration, default=None, help="repeat at this interval until stopped"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import httpx

    from dashboards.retag import InfluxV1, credentials
    from dashboards.rollup import rollup

    settings = load_settings()
    inf = settings.influx
    if not inf.url:
        sys.stderr.write(
            "rollup: the rollup lives in InfluxDB: set LORAWAN_INFLUX__URL (the embedded "
            "store needs none, its queries are local)\n"
        )
        return 2
    headers, auth = credentials(inf)
    with httpx.Client(base_url=inf.url, headers=headers, auth=auth, timeout=600) as client:
        db = InfluxV1(client, inf.database)
        while True:
            t = time.monotonic()
            try:
                s = rollup(db, int(time.time()) - args.since)
            except (SinkError, httpx.HTTPError) as exc:
                sys.stderr.write(f"rollup: {exc}\n")
                if args.every is None:
                    return 1
            else:
                sys.stdout.write(
                    f"rollup: {s.hours} hours, {len(s.devices)} devices, {s.points} points "
                    f"written in {time.monotonic() - t:.1f} s\n"
                )
                sys.stdout.flush()
            if args.every is None:
                return 0
            time.sleep(max(0.0, args.every - (time.monotonic() - t)))
