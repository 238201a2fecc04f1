"""CPU per uplink of ingest's registry path, in process (#19): what the registry costs.

The side-by-side workload of ``bench/peers.py`` (The Things Stack uplinks of 50 Dragino
LHT65 devices, ``version_ids`` dragino/lht65) goes through the real pipeline once, outside
the timing; then, per chunk of ``--chunk`` results, the registry path as ingest runs it is
timed with ``time.process_time`` (CPU of this process, all threads):

* ``queue``: the chunk's registry work built and encoded for buffer.db (``encode``), and
  committed there (``DurableBuffer.append`` of the blob alone: the points are another cost);
* ``apply``: the applier's peek, ``record_uplinks`` (status fold, journal), and the removal
  of the applied batch from buffer.db; after every chunk, or (``--apply-every K``) after
  every K chunks, as the applier does when it gathers them.

Every round starts with a fresh buffer.db and registry (SQLite, or ``--dsn`` PostgreSQL,
which is emptied). Prints the median and range over the rounds, in µs per uplink. The
pipeline's own cost (``process``) is printed too, for scale.

    .venv/bin/python bench/registry_path.py [--count 30000] [--chunk 1000] [--rounds 5]
        [--apply-every 1] [--dsn postgresql+psycopg://…] [--baseline FILE] [--json]

``--baseline FILE``: a file defining another ``SqlRegistry`` (an older version, e.g.
``git show REV:storage/registry.py > /tmp/old_registry.py``), run interleaved with this
one (A, B, A, B …) on the same records, and the ratio printed per round.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.peers import workload  # noqa: E402
from ingest.buffer import DurableBuffer  # noqa: E402
from ingest.models import RawMessage  # noqa: E402
from ingest.pipeline import Pipeline, ProcessResult  # noqa: E402
from ingest.registry_queue import RegistryApplier, encode  # noqa: E402
from ingest.service import _registry_work  # noqa: E402
from storage.registry import SqlRegistry  # noqa: E402


def results(count: int, devices: int) -> tuple[list[ProcessResult], float]:
    msgs, _warm = workload(count, devices)
    pipe = Pipeline()
    raws = [RawMessage(topic=t, payload=p, received=time.time()) for t, p in msgs]
    t0 = time.process_time()
    out = [pipe.process(r) for r in raws]
    return out, time.process_time() - t0


def _reset(dsn: str) -> None:
    reg = SqlRegistry(dsn)
    with reg.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE journal, devices RESTART IDENTITY")
    reg.close()


def load_registry(path: str) -> Any:
    """The ``SqlRegistry`` class of the file ``path``."""
    spec = importlib.util.spec_from_file_location("baseline_registry", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.SqlRegistry


def one_round(
    res: Sequence[ProcessResult], chunk: int, dsn: str, cls: Any = SqlRegistry, every: int = 1
) -> tuple[float, float]:
    """(queue, apply) CPU seconds for the whole stream."""
    with tempfile.TemporaryDirectory() as tmp:
        if dsn:
            _reset(dsn)
        reg = cls(dsn or f"sqlite:///{tmp}/registry.db")
        buf = DurableBuffer(Path(tmp) / "buffer.db")
        applier = RegistryApplier(buf, reg)
        q = a = 0.0
        try:
            for i in range(0, len(res), chunk):
                part = res[i : i + chunk]
                t0 = time.process_time()
                work = _registry_work(part)
                blob, bad = encode(work)
                assert not bad
                buf.append([], [], (blob, len(work)))
                applier.queued(buf.last_registry_id, work)
                t1 = time.process_time()
                if (i // chunk + 1) % every == 0 or i + chunk >= len(res):
                    applier.apply_once(buf.registry_peek(applier.max_records, applier._cache))
                t2 = time.process_time()
                q += t1 - t0
                a += t2 - t1
            assert buf.registry_pending == 0, buf.registry_pending
        finally:
            buf.close()
            reg.close()
    return q, a


def _stats(values: list[float], n: int) -> dict[str, float]:
    us = [v / n * 1e6 for v in values]
    return {
        "median": round(statistics.median(us), 2),
        "min": round(min(us), 2),
        "max": round(max(us), 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--count", type=int, default=30_000)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--chunk", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--apply-every",
        type=int,
        default=1,
        help="apply after every K chunks (as the applier gathering them would)",
    )
    ap.add_argument("--dsn", default="", help="a PostgreSQL registry (emptied!); default SQLite")
    ap.add_argument("--baseline", default="", help="a file with another SqlRegistry, interleaved")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    base = load_registry(args.baseline) if args.baseline else None
    res, proc = results(args.count, args.devices)
    n = len(res)
    qs: list[float] = []
    aps: list[float] = []
    base_aps: list[float] = []
    for _ in range(args.rounds):
        if base is not None:
            base_aps.append(one_round(res, args.chunk, args.dsn, base)[1])
        q, a = one_round(res, args.chunk, args.dsn, every=args.apply_every)
        qs.append(q)
        aps.append(a)
    out: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "uplinks": n,
        "chunk": args.chunk,
        "apply_every": args.apply_every,
        "rounds": args.rounds,
        "dialect": "postgresql" if args.dsn else "sqlite",
        "process_us": round(proc / n * 1e6, 2),
        "queue_us": _stats(qs, n),
        "apply_us": _stats(aps, n),
        "registry_us": _stats([q + a for q, a in zip(qs, aps, strict=True)], n),
    }
    if base is not None:
        out["baseline"] = args.baseline
        out["baseline_apply_us"] = _stats(base_aps, n)
        out["apply_ratio_per_round"] = [round(a / b, 3) for a, b in zip(aps, base_aps, strict=True)]
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"{out['date']}  {n} uplinks, chunks of {args.chunk} (applied every "
            f"{args.apply_every}), {args.rounds} rounds, "
            f"{out['dialect']}; CPU µs per uplink, median (min–max)"
        )
        print(f"  pipeline.process (for scale): {out['process_us']}")
        for k in ("queue_us", "apply_us", "registry_us"):
            s = out[k]
            print(f"  {k[:-3]:>8}: {s['median']} ({s['min']}–{s['max']})")
        if base is not None:
            s = out["baseline_apply_us"]
            print(f"  baseline apply ({args.baseline}): {s['median']} ({s['min']}–{s['max']})")
            print(f"  apply ÷ baseline, per round: {out['apply_ratio_per_round']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
