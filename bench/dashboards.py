"""Query time of every dashboard panel on a real influxd: 500 devices over 30 days.

Starts its own ``influxd`` (Debian package ``influxdb``) on a free loopback port with a
temporary data directory, writes simulated points following the schema (the small city of
``tests/dashboards/conftest.py`` repeated: every quantity the dashboards query, one
``lorawan_uplink`` point per uplink, ``device_location``, ``lorawan_alert``), then runs
every panel query of the committed dashboards with Grafana's substitutions (every variable
on "All") for a 30-day and a 7-day range and prints the time of each, slowest first.
``$__interval`` is computed per panel as Grafana does (``dashboards/interval.py``: range /
the panel's Max data points, rounded to Grafana's nice intervals, at least its Min
interval); a query grouped by ``$__interval`` also runs as before #15's resolutions, with
one fixed 1h, in the same run, side by side. Each query runs ``--rounds`` times; the
median counts, the range is printed.
The hourly rollup (``dashboards/rollup.py``) is backfilled first (timed), and the
frame-loss panels also run as they were before it (raw frame counters), side by side.

    .venv/bin/python bench/dashboards.py [--devices 500] [--days 30] [--every-min 10]
        [--rounds 3] [--top 15] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboards.generate import load_committed  # noqa: E402
from dashboards.interval import Interval, panel_interval  # noqa: E402
from tests.dashboards.conftest import DEVICES, Dev, _esc, _line, _value  # noqa: E402
from tests.dashboards.test_queries_influx import FIXED_HOUR, interpolate  # noqa: E402
from tests.servers import running_influxd  # noqa: E402

SITES = tuple(f"Standort {i:02d}" for i in range(25))
DAY_MS = 86_400_000
Query = tuple[str, str, str, dict[str, Any] | None]


def fleet(n: int) -> list[tuple[int, Dev]]:
    """``n`` devices: the city's device kinds in turn, each with its own id and site."""
    out = []
    for i in range(n):
        t = DEVICES[i % len(DEVICES)]
        dev = Dev(
            device=f"{t.device}-{i:04d}",
            label=f"{t.label or t.device} {i}",
            application=t.application,
            model=t.model,
            category=t.category,
            site=SITES[i % len(SITES)],
            quantities=t.quantities,
            sensors=t.sensors,
            decode_errors_every=t.decode_errors_every,
        )
        out.append((i, dev))
    return out


def lines(n_devices: int, days: int, every_s: int, now_s: int) -> Iterator[list[str]]:
    """Line protocol in batches, one device at a time (memory stays small)."""
    rng = random.Random(7)
    start = now_s - days * 86400
    steps = days * 86400 // every_s
    for n, dev in fleet(n_devices):
        tags = dev.tags()
        batch = [
            _line(
                "device_location",
                tags,
                {"latitude": 54.6 + n * 1e-4, "longitude": 8.5 + n * 1e-4},
                start,
            )
        ]
        state: dict[str, float] = {}
        offset = rng.randrange(every_s)
        for k in range(steps):
            ts = start + k * every_s + offset
            error = bool(dev.decode_errors_every and k % dev.decode_errors_every == 0)
            uplink = {
                "rssi": float(rng.randint(-125, -60)),
                "snr": round(rng.uniform(-15, 10), 1),
                "spreading_factor": float(7 + (k + n) % 6),
                "frequency": 868100000.0,
                "gateway_count": float(rng.randint(1, 3)),
                "f_cnt": float(k + 1 + (k // 500)),
                "f_port": 2.0,
                "payload_size": 11.0,
                "airtime": 0.0616,
                "decode_ok": 0.0 if error else 1.0,
            }
            status = "error" if error else "decoded"
            batch.append(_line("lorawan_uplink", {**tags, "decode_status": status}, uplink, ts))
            if error:
                continue
            for q in dev.quantities:
                for sensor in dev.sensors:
                    value = _value(q, rng, k % 72, state)
                    batch.append(_line(q.value, {**tags, "sensor": sensor}, {"value": value}, ts))
        if n % 10 == 0:  # one device in ten has an alert rule, evaluated hourly
            alert_tags = ",".join(
                f"{k}={_esc(v)}"
                for k, v in sorted(
                    {
                        "rule": "battery_low",
                        "severity": "warning",
                        "device": dev.device,
                        "dev_eui": tags["dev_eui"],
                        "site": dev.site,
                    }.items()
                )
            )
            for h in range(days * 24):
                on = h % 50 < 5
                batch.append(
                    f'lorawan_alert,{alert_tags} state="{"firing" if on else "ok"}",'
                    f"firing={float(on)!r} {start + h * 3600}"
                )
        yield batch


def raw_frame_loss_queries() -> list[Query]:
    """The frame-loss panels as they were before the rollup (#15), on raw uplinks. (The two
    uplink-count panels were measured on the rollup too, 2026-12-04, and stayed raw: a
    count of raw points was faster than a sum over the rollup.)"""
    from dashboards import influxql as iq

    received = iq.select(
        'count("f_cnt") AS "received"',
        iq.UPLINK,
        None,
        "device",
        "name",
        "site",
        "dev_eui",
        every=None,
    )
    return [
        ("network: BEFORE (raw) Paketverlust [A]", iq.frame_loss(iq.LOSS), "raw", None),
        (
            "network: BEFORE (raw) Fehlende Frames je Stunde [A]",
            iq.frame_loss(iq.MISSED, "device", every="1h"),
            "raw",
            None,
        ),
        ("network: BEFORE (raw) Paketverlust je Gerät [A]", received, "raw", None),
        (
            "network: BEFORE (raw) Paketverlust je Gerät [B]",
            iq.frame_loss(f'{iq.MISSED} AS "missed", {iq.LOSS} AS "loss"', "device"),
            "raw",
            None,
        ),
    ]


def panel_queries() -> list[Query]:
    out: list[Query] = []
    for name, board in load_committed().items():
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                if not t.get("hide"):
                    label = f"{name}: {panel['title']} [{t['refId']}]"
                    out.append((label, t["query"], name, panel))
        for v in board["templating"]["list"]:
            out.append((f"{name}: variable {v['name']}", v["query"], name, None))
    return out


def run_query(
    client: httpx.Client, url: str, label: str, q: str, rounds: int
) -> tuple[list[float], dict[str, Any]]:
    """``rounds`` times ``q``; the times and the (last) result."""
    times = []
    res: dict[str, Any] = {}
    for _ in range(rounds):
        t = time.perf_counter()
        r = client.get(f"{url}/query", params={"db": "bench", "q": q, "epoch": "ms"})
        times.append(time.perf_counter() - t)
        r.raise_for_status()
        res = r.json()["results"][0]
        if "error" in res:
            raise SystemExit(f"{label}: {res['error']}\n{q}")
    return times, res


def figures(times: list[float], res: dict[str, Any], interval: Interval) -> dict[str, Any]:
    return {
        "interval": interval.text,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "rows": sum(len(s["values"]) for s in res.get("series", [])),
    }


def _fig(f: dict[str, Any]) -> str:
    return (
        f"{f['interval']:>4} {f['median_s']:7.3f} s ({f['min_s']:.3f}-{f['max_s']:.3f}) "
        f"{f['rows']:7d} rows"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--every-min", type=float, default=10.0, help="uplink interval per device")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--retag", action="store_true", help="also time `retag` of every device (new names)"
    )
    args = ap.parse_args()
    now_s = int(time.time())
    with running_influxd() as influxd:
        influxd.create_database("bench")
        client = httpx.Client(timeout=600)
        t0 = time.perf_counter()
        points = 0
        for batch in lines(args.devices, args.days, int(args.every_min * 60), now_s):
            for i in range(0, len(batch), 50_000):
                chunk = batch[i : i + 50_000]
                r = client.post(
                    f"{influxd.url}/write",
                    params={"db": "bench", "precision": "s"},
                    content="\n".join(chunk).encode(),
                )
                r.raise_for_status()
                points += len(chunk)
        load_s = time.perf_counter() - t0
        sys.stderr.write(f"wrote {points:,} points in {load_s:.0f} s\n")
        from dashboards.retag import InfluxV1
        from dashboards.rollup import rollup

        t = time.perf_counter()
        with httpx.Client(base_url=influxd.url, timeout=600) as rclient:
            rs = rollup(InfluxV1(rclient, "bench"), now_s - args.days * 86400, until_s=now_s)
            backfill_s = time.perf_counter() - t
            t = time.perf_counter()
            rollup(InfluxV1(rclient, "bench"), now_s - 3 * 3600, until_s=now_s)
            periodic_s = time.perf_counter() - t
        sys.stderr.write(
            f"rollup backfill: {rs.points:,} points ({len(rs.devices)} devices, {rs.hours} h) "
            f"in {backfill_s:.1f} s; periodic run (last 3 h): {periodic_s:.2f} s\n"
        )
        results: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        ranges = sorted({args.days, 7}, reverse=True)
        for label, query, board, panel in panel_queries() + raw_frame_loss_queries():
            grouped = "$__interval" in query
            entry: dict[str, Any] = {
                "panel": label,
                "board": board,
                "grouped": grouped,
                "ranges": {},
            }
            for days in ranges:
                after_iv = panel_interval(panel, days * DAY_MS) if panel else FIXED_HOUR
                q = interpolate(query, now_s, days=days, interval=after_iv)
                times, res = run_query(client, influxd.url, label, q, args.rounds)
                after = figures(times, res, after_iv)
                before = after  # the same query when it is not grouped by $__interval
                if grouped and after_iv != FIXED_HOUR:
                    q = interpolate(query, now_s, days=days, interval=FIXED_HOUR)
                    times, res = run_query(client, influxd.url, label, q, args.rounds)
                    before = figures(times, res, FIXED_HOUR)
                entry["ranges"][days] = {"before": before, "after": after}
                if days == args.days:
                    entry.update(after)
                    if label.endswith("Paketverlust [A]"):
                        series = res.get("series")
                        values[label] = series[0]["values"][0][1] if series else None
            # the old fixed time(1h) of "Uplinks je Gerät und Stunde" is the before of its
            # successor grouped by $__interval (min 1h), so it is measured as above
            results.append(entry)
        retag_s = None
        if args.retag:
            from dashboards.retag import InfluxV1, Wanted, retag

            wanted = [
                Wanted(dev_eui=d.tags()["dev_eui"], name=f"Neu {d.name}", site=d.site)
                for _, d in fleet(args.devices)
            ]
            t = time.perf_counter()
            with httpx.Client(base_url=influxd.url, timeout=600) as rclient:
                rs = retag(InfluxV1(rclient, "bench"), wanted)
            retag_s = time.perf_counter() - t
            sys.stderr.write(
                f"retag: {sum(rs.changed.values())} series, {rs.points:,} points rewritten "
                f"in {retag_s:.0f} s\n"
            )
    results.sort(key=lambda r: -r["median_s"])
    summary = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "devices": args.devices,
        "days": args.days,
        "every_min": args.every_min,
        "points": points,
        "load_s": round(load_s, 1),
        "queries": len(results),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg()[0],
        "slowest": results[0],
        "retag_s": retag_s,
        "rollup_backfill_s": round(backfill_s, 1),
        "rollup_periodic_s": round(periodic_s, 2),
        "per_board_max_s": {
            b: max(r["median_s"] for r in results if r["board"] == b)
            for b in sorted({r["board"] for r in results})
        },
    }
    if args.json:
        print(json.dumps({"summary": summary, "results": results}, indent=2))  # noqa: T201
        return 0
    print(  # noqa: T201
        f"{summary['date']}: {args.devices} devices, {args.days} days, an uplink every "
        f"{args.every_min:g} min: {points:,} points; {len(results)} queries, median of "
        f"{args.rounds} (load average {summary['loadavg']:.1f} on {summary['cpus']} CPUs)"
    )
    for r in results[: args.top]:
        print(  # noqa: T201
            f"{r['median_s']:8.3f} s ({r['min_s']:.3f}-{r['max_s']:.3f})  {r['rows']:7d} rows  "
            f"{r['interval']:>4}  {r['panel']}"
        )
    print(f"frame loss over the range, rollup vs raw: {values}")  # noqa: T201
    print("panels on the rollup (now) and on raw uplinks (before), side by side:")  # noqa: T201
    for r in results:
        if any(k in r["panel"] for k in ("Paketverlust", "Fehlende Frames", "Uplinks je ")):
            print(  # noqa: T201
                f"{r['median_s']:8.3f} s ({r['min_s']:.3f}-{r['max_s']:.3f})  {r['rows']:7d} rows"
                f"  {r['panel']}"
            )
    for b, s in summary["per_board_max_s"].items():
        print(f"slowest on {b}: {s:.3f} s")  # noqa: T201
    print(  # noqa: T201
        "queries grouped by $__interval: before (one fixed 1h) and after (the panel's "
        "interval as Grafana computes it), median and range of "
        f"{args.rounds} rounds, side by side:"
    )
    for r in sorted(results, key=lambda r: r["panel"]):
        for days, pair in r["ranges"].items():
            if pair["before"] is pair["after"]:
                if r["grouped"]:
                    print(  # noqa: T201
                        f"{days:3d} d  before = after (1h: the same query) "
                        f"{_fig(pair['after'])}  {r['panel']}"
                    )
                continue
            ratio = pair["before"]["median_s"] / max(pair["after"]["median_s"], 1e-9)
            print(  # noqa: T201
                f"{days:3d} d  before {_fig(pair['before'])}  after {_fig(pair['after'])}  "
                f"{ratio:5.1f}x  {r['panel']}"
            )
    for days in sorted({args.days, 7}, reverse=True):
        top = max(
            (r for r in results if r["board"] != "raw"),
            key=lambda r: r["ranges"][days]["after"]["median_s"],
        )
        print(  # noqa: T201
            f"slowest panel after, {days} days: {_fig(top['ranges'][days]['after'])}  "
            f"{top['panel']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
