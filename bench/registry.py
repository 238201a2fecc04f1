"""Device registry write throughput: ``SqlRegistry.record_uplinks`` per record.

Records come from the real pipeline (simulated The Things Stack fleet, decoded as
ingest decodes them) and are written in ingest's batches (2,000 records over 200
devices by default). Three passes are timed on a fresh database each round:

* ``live``: the stream as it arrives (every record new),
* ``replay``: the same batches again (every record already journaled: the look-up path),
* ``late``: the stream again with every receive time 1 s earlier (late deliveries).

``--digest`` prints a SHA-256 of the stored rows (the database's own representation, read
with the DB-API), so two versions of the registry can be compared for identical results.

    .venv/bin/python bench/registry.py [--records 20000] [--devices 200] [--batch 2000]
        [--rounds 3] [--networks tts,chirpstack] [--dsn postgresql+psycopg://…] [--digest]
        [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.models import RawMessage  # noqa: E402
from ingest.pipeline import Pipeline  # noqa: E402
from simulator.fleet import Network, default_fleet, generate  # noqa: E402
from storage.registry import SqlRegistry  # noqa: E402
from storage.registry_base import UplinkRecord  # noqa: E402


def build_records(
    n: int, devices: int, networks: Sequence[Network] = ("tts",)
) -> list[UplinkRecord]:
    fleet = default_fleet(devices, networks=networks)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    msgs = [
        RawMessage(topic=m.topic, payload=m.payload) for m in generate(fleet, start=start, count=n)
    ]
    pipe = Pipeline()
    return [r.record for r in (pipe.process(m) for m in msgs) if r.record]


def _write(reg: SqlRegistry, recs: Sequence[UplinkRecord], batch: int) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(recs), batch):
        reg.record_uplinks(recs[i : i + batch])
    return time.perf_counter() - t0


def digest(reg: SqlRegistry) -> str:
    """SHA-256 over every row of both tables, in the database's own representation."""
    h = hashlib.sha256()
    raw = reg.engine.raw_connection()
    try:
        cur = raw.cursor()
        # PostgreSQL: the row's text form, which tells SQL NULL from JSON null
        row = "t::text" if reg.engine.dialect.name == "postgresql" else "*"
        for sql in (
            f"SELECT {row} FROM devices t ORDER BY device_key",
            f"SELECT {row} FROM journal t ORDER BY device_key, received_at, id",
        ):
            cur.execute(sql)
            for row in cur.fetchall():
                h.update(repr(tuple(row)).encode())
        cur.close()
    finally:
        raw.close()
    return h.hexdigest()


def _reset(dsn: str) -> None:
    """Empty a PostgreSQL registry (journal ids from 1 again, so digests compare)."""
    reg = SqlRegistry(dsn)
    with reg.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE journal, devices RESTART IDENTITY")
    reg.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    networks = cast(list[Network], args.networks.split(","))
    recs = build_records(args.records, args.devices, networks)
    late = [replace(r, received_at=r.received_at - timedelta(seconds=1)) for r in recs]
    passes: dict[str, list[float]] = {"live": [], "replay": [], "late": []}
    digests: set[str] = set()
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            dsn = args.dsn or f"sqlite:///{tmp}/registry.db"
            if args.dsn:
                _reset(dsn)
            reg = SqlRegistry(dsn)
            try:
                passes["live"].append(_write(reg, recs, args.batch))
                passes["replay"].append(_write(reg, recs, args.batch))
                passes["late"].append(_write(reg, late, args.batch))
                if args.digest:
                    reg.trim_journal()  # the same journal whatever the trimming schedule
                    digests.add(digest(reg))
            finally:
                reg.close()
    out: dict[str, Any] = {
        "records": len(recs),
        "devices": args.devices,
        "batch": args.batch,
        "dialect": "postgresql" if args.dsn else "sqlite",
    }
    for name, secs in passes.items():
        best = min(secs)
        out[name] = {
            "us_per_record": round(best / len(recs) * 1e6, 2),
            "median_us_per_record": round(statistics.median(secs) / len(recs) * 1e6, 2),
            "records_per_s": round(len(recs) / best),
        }
    if args.digest:
        out["digest"] = sorted(digests)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--batch", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--networks", default="tts", help="tts,chirpstack,chirpstack-v3")
    ap.add_argument("--dsn", default="", help="a PostgreSQL registry (emptied!); default SQLite")
    ap.add_argument("--digest", action="store_true", help="print a digest of the stored rows")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = run(args)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"{out['records']} records, {out['devices']} devices, batches of {out['batch']}, "
        f"{out['dialect']} (best of {args.rounds})"
    )
    for name in ("live", "replay", "late"):
        p = out[name]
        print(
            f"  {name:<7} {p['us_per_record']:8.2f} µs/record  {p['records_per_s']:>9,} records/s"
            f"  (median {p['median_us_per_record']:.2f} µs)"
        )
    if args.digest:
        print("  digest " + " ".join(out["digest"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
