"""Alert evaluation cost per cycle, and what a running evaluator costs ingest's registry writes.

A registry (SQLite by default) is filled with ``--devices`` devices (5,000) spread over
sites, categories, models and 20 gateways; each has recorded uplinks with temperature,
CO₂, water level and battery readings, a tenth of them have decode errors, and the
embedded time-series store holds ``--points`` water-level points per device for the
aggregate rule. Twenty rules of every kind are evaluated:

* ``first``: the first cycle (every matching alert is new: inserts, history, outbox),
* ``steady``: further cycles with the same data (the usual case: a few changes at most).

Then ingest's registry write path (``record_uplinks`` in batches of 2,000, as ingest
writes) is timed alone and with the evaluator thread cycling every ``--interval`` seconds
on the same database (far more often than the default 30 s).

    .venv/bin/python bench/alerts.py [--devices 5000] [--cycles 5] [--dsn postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts.notify import build_channels  # noqa: E402
from alerts.rules import parse_rules  # noqa: E402
from alerts.service import AlertConfig, AlertService  # noqa: E402
from alerts.state import AlertDb  # noqa: E402
from storage.base import Point  # noqa: E402
from storage.registry import SqlRegistry  # noqa: E402
from storage.registry_base import DeviceMeta, UplinkRecord  # noqa: E402
from storage.sqlite import SqliteStore  # noqa: E402

RULES = """
defaults: {channels: [log], repeat: 6h}
rules:
  - {name: stumm-umwelt, kind: silent, missed: 3, select: {category: environment}}
  - {name: stumm-verkehr, kind: silent, missed: 2, select: {category: traffic}}
  - {name: stumm-tourismus, kind: silent, after: 2h, select: {category: tourism}}
  - {name: stumm-hafen, kind: silent, after: 30m, select: {site: hafen}}
  - {name: batterie-prozent, kind: battery, percent: 15}
  - {name: batterie-volt, kind: battery, volts: 2.9}
  - {name: batterie-kritisch, kind: battery, percent: 5, severity: critical}
  - {name: dekodierfehler, kind: decode, last: 1}
  - {name: dekodierfehler-3, kind: decode, last: 3}
  - {name: dekodier-anteil, kind: decode, share: 0.5, window: 1h}
  - {name: frost, kind: threshold, quantity: temperature, below: 0.5, clear: 1.5, for: 15m}
  - {name: hitze, kind: threshold, quantity: temperature, above: 30, clear: 28}
  - {name: co2-hoch, kind: threshold, quantity: co2, above: 2000, clear: 1400}
  - {name: co2-kritisch, kind: threshold, quantity: co2, above: 4000, severity: critical}
  - {name: pegel-hoch, kind: threshold, quantity: water_level, above: 2.5, clear: 2.3, for: 5m}
  - {name: pegel-niedrig, kind: threshold, quantity: water_level, below: 0.3}
  - {name: pegel-mittel, kind: threshold, quantity: water_level, above: 2.0, aggregate: mean,
     window: 10m, select: {site: hafen}}
  - {name: model-lht65, kind: threshold, quantity: temperature, above: 35,
     select: {model: dragino/lht65}}
  - {name: tag-schule, kind: threshold, quantity: co2, above: 1500, select: {tags: {raum: schule}}}
  - {name: gateway-stumm, kind: gateway, after: 30m}
"""
SITES = ["hafen", "altstadt", "schule", "strand", "markt", "bahnhof", "park", "rathaus"]
CATEGORIES = ["environment", "environment", "traffic", "tourism"]


def populate(
    reg: SqlRegistry, store: SqliteStore, n: int, now: datetime, points: int, healthy: bool = False
) -> None:
    """``healthy``: readings in normal ranges, one device in fifty silent or failing (a
    normal day); otherwise the data is deliberately bad (most rules fire somewhere)."""
    for i in range(n):
        key = f"70B3D5{i:010X}"
        reg.update_meta(
            key,
            DeviceMeta(
                name=f"Sensor {i}",
                site=SITES[i % len(SITES)],
                category=CATEGORIES[i % len(CATEGORIES)],
                expected_interval_s=600,
                tags={"raum": "schule"} if i % 10 == 0 else {},
            ),
            create=True,
        )
    recs: list[UplinkRecord] = []
    pts: list[Point] = []
    for i in range(n):
        key = f"70B3D5{i:010X}"
        # a twentieth silent for 3 h, a tenth failing to decode, the rest healthy
        bad_every = 50 if healthy else 20
        t = now - (timedelta(hours=3) if i % bad_every == 0 else timedelta(minutes=i % 9))
        failing = i % (50 if healthy else 10) == 1
        if healthy:
            values = (10.0 + i % 10, 600.0 + (i % 10) * 50, 1.0 + (i % 10) / 10, 80.0)
        else:
            values = (-2.0 + (i % 40), 400.0 + (i % 50) * 90, (i % 30) / 10, float(i % 100))
        for k in range(3):
            recs.append(
                UplinkRecord(
                    device_key=key,
                    dev_eui=key,
                    device_id=key.lower(),
                    application="stadt",
                    source="tts",
                    received_at=t - timedelta(minutes=10 * (2 - k)),
                    f_port=2,
                    f_cnt=k + 1,
                    payload=b"\x01\x02",
                    model_id="dragino/lht65" if i % 3 == 0 else "acme/env",
                    decoder="native:x",
                    status="error" if failing else "decoded",
                    error="expected 11 bytes, got 7" if failing else None,
                    readings=tuple(
                        zip(
                            ("temperature", "co2", "water_level", "battery"),
                            ("", "", "", ""),
                            values,
                            strict=True,
                        )
                    ),
                    gateways=({"gateway_id": f"gw-{i % 20:02d}", "rssi": -90.0, "snr": 5.0},),
                    gateway_count=1,
                    uplink_id=f"{key}-{k}",
                )
            )
        for p in range(points):
            ts = now - timedelta(minutes=p)
            pts.append(
                Point(
                    measurement="water_level",
                    tags={"device": key.lower(), "sensor": ""},
                    fields={"value": values[2]},
                    time_ns=int(ts.timestamp() * 1e9),
                )
            )
        if len(recs) >= 2000:
            reg.record_uplinks(recs)
            recs = []
    if recs:
        reg.record_uplinks(recs)
    store.write(pts)


def ingest_rate(reg: SqlRegistry, devices: int, batches: int, start: datetime) -> float:
    """record_uplinks throughput (uplinks/s), batches of 2,000 over ``devices`` devices."""
    t0 = time.perf_counter()
    n = 0
    for b in range(batches):
        recs = [
            UplinkRecord(
                device_key=f"70B3D5{(j % devices):010X}",
                dev_eui=f"70B3D5{(j % devices):010X}",
                device_id=f"70b3d5{(j % devices):010x}",
                application="stadt",
                source="tts",
                received_at=start + timedelta(seconds=b * 2000 + j),
                f_port=2,
                f_cnt=100 + b * 2000 + j,
                payload=b"\x01\x02",
                model_id="acme/env",
                decoder="native:x",
                status="decoded",
                readings=(("temperature", "", 10.0),),
                gateways=({"gateway_id": "gw-00", "rssi": -90.0, "snr": 5.0},),
                gateway_count=1,
                uplink_id=f"live-{b}-{j}",
            )
            for j in range(2000)
        ]
        reg.record_uplinks(recs)
        n += len(recs)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--points", type=int, default=10, help="water-level points per device")
    ap.add_argument("--batches", type=int, default=10, help="ingest batches of 2,000 per pass")
    ap.add_argument("--interval", type=float, default=1.0, help="evaluator interval (ingest pass)")
    ap.add_argument("--dsn", help="registry URL (default: SQLite in a temp dir)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating off/on ingest passes")
    ap.add_argument("--healthy", action="store_true", help="a normal day: few alerts")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    dsn = args.dsn or f"sqlite:///{tmp / 'registry.db'}"
    reg = SqlRegistry(dsn)
    store = SqliteStore(tmp / "ts.db")
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = time.perf_counter()
    populate(reg, store, args.devices, now, args.points, args.healthy)
    print(
        f"populated {args.devices} devices in {time.perf_counter() - t0:.1f} s ({dsn.split(':')[0]})"
    )
    rules = parse_rules(RULES, "bench")
    assert len(rules.rules) == 20
    svc = AlertService(
        rules,
        db=AlertDb(reg.engine),
        registry=reg,
        store=store,
        channels=build_channels({}),
        config=AlertConfig(
            interval=args.interval, lease_ttl=max(90.0, 3 * args.interval), group_wait=3600
        ),
        holder="bench",
    )
    import logging

    logging.disable(logging.WARNING)  # the log channel would print every grouped message
    t = time.perf_counter()
    first = svc.cycle(now)
    first_s = time.perf_counter() - t
    times = []
    for k in range(args.cycles):
        t = time.perf_counter()
        res = svc.cycle(now + timedelta(seconds=k + 1))
        times.append(time.perf_counter() - t)
    obs_t = []
    active = {r["id"]: r for r in svc.db.active()}
    for _ in range(3):
        t = time.perf_counter()
        svc.evaluator.observe(now, active)
        obs_t.append(time.perf_counter() - t)
    print(
        f"first cycle: {first_s * 1000:.0f} ms ({first.changes} transitions, "
        f"{first.notifications} outbox rows, {first.firing} firing)"
    )
    print(
        f"steady cycle: median {statistics.median(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms over {args.cycles} cycles ({res.firing} firing); "
        f"of which observing: {statistics.median(obs_t) * 1000:.0f} ms"
    )
    offs, ons = [], []
    for r in range(args.rounds):  # alternating, so that the machine's load hits both alike
        start = now + timedelta(hours=1 + 2 * r)
        offs.append(ingest_rate(reg, args.devices, args.batches, start))
        svc.start()
        while svc.cycles == 0:  # time whole intervals: not just the first cycle at start
            time.sleep(0.05)
        ons.append(ingest_rate(reg, args.devices, args.batches, start + timedelta(hours=1)))
        svc.stop()
    off, on = statistics.median(offs), statistics.median(ons)
    print(
        f"registry record_uplinks (median of {args.rounds}): {off:,.0f} uplinks/s without, "
        f"{on:,.0f} with the evaluator cycling every {args.interval:g} s "
        f"({100 * (on - off) / off:+.1f} %); rounds off {[round(x) for x in offs]}, "
        f"on {[round(x) for x in ons]}"
    )
    reg.close()
    store.close()


if __name__ == "__main__":
    main()
