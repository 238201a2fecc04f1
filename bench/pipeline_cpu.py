"""CPU per uplink of the in-process steps, on the side-by-side bench's workload (#19).

N pre-built The Things Stack uplinks of 50 Dragino LHT65 devices (``bench/peers.py``'s
workload, ``version_ids`` dragino/lht65) go through, each step timed on its own with
``time.process_time`` (CPU of this process only, so other load on a shared machine
inflates it far less than wall time):

* ``envelope``: ``ingest.envelopes.parse`` (bytes -> ``Uplink``),
* ``pipeline``: ``Pipeline.process`` (envelope, decode, range checks, record, the
  five line-protocol points),
* ``decode``: ``decoders.decode`` (the LHT65 decoder and its normalization table),
* ``process_uplink``: ``Pipeline.process_uplink`` on already parsed uplinks
  (``pipeline`` minus the envelope).

The garbage collector is tuned as ingest tunes it. No registry, journal, buffer or MQTT: those are measured end to end by ``bench/peers.py``.
Prints the median and the range over the repeats, in µs per uplink.

    .venv/bin/python bench/pipeline_cpu.py [--uplinks 20000] [--repeats 7] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: ``--tree DIR``: time another source tree (e.g. ``git archive REV | tar -x -C DIR``) with
#: this checkout's bench and venv, to compare a change side by side in one session
if "--tree" in sys.argv:
    ROOT = Path(sys.argv[sys.argv.index("--tree") + 1]).resolve()
sys.path.insert(0, str(ROOT))

from bench.peers import workload  # noqa: E402
from decoders import decode  # noqa: E402
from ingest.envelopes import parse  # noqa: E402
from ingest.models import RawMessage, Uplink  # noqa: E402
from ingest.pipeline import Pipeline  # noqa: E402
from lorawan_monitor.wiring import tune_gc  # noqa: E402


def _timed(fn: Callable[[], object], n: int, repeats: int) -> list[float]:
    """µs of CPU per item for each repeat (one untimed warm-up run first)."""
    fn()
    out = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.process_time()
        fn()
        out.append((time.process_time() - t0) / n * 1e6)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--uplinks", type=int, default=20_000)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--tree", type=Path, help="time this source tree instead of the checkout")
    args = ap.parse_args()

    msgs, _warm = workload(args.uplinks, args.devices)
    ups = [parse(t, p, "tts") for t, p in msgs]
    assert all(isinstance(u, Uplink) for u in ups)
    # "now" just after the workload's last uplink, as a live run would see it
    received = max(u.received_at for u in ups).timestamp() + 60  # type: ignore[union-attr]
    raws = [RawMessage(topic=t, payload=p, received=received) for t, p in msgs]
    pipeline = Pipeline(envelope="tts")
    for r in raws:
        res = pipeline.process(r)
        if res.outcome != "stored" or len(res.points) != 4:
            raise SystemExit(f"workload not stored as expected: {res.outcome} {res.message}")
    tune_gc()  # as ingest does (lorawan_monitor.wiring.tune_gc)
    now_ns = int(received * 1e9)
    n = len(raws)

    def envelope() -> None:
        for r in raws:
            parse(r.topic, r.payload, "tts")

    def whole() -> None:
        process = pipeline.process
        for r in raws:
            process(r)

    frames = [(u.model_id or "dragino/lht65", u.payload, u.f_port) for u in ups]  # type: ignore[union-attr]

    def decoding() -> None:
        for model_id, payload, f_port in frames:
            decode(model_id, payload, f_port)

    def rest() -> None:
        process_uplink = pipeline.process_uplink
        for u in ups:
            process_uplink(u, now_ns=now_ns)  # type: ignore[arg-type]

    steps = {
        "envelope": _timed(envelope, n, args.repeats),
        "decode": _timed(decoding, n, args.repeats),
        "process_uplink": _timed(rest, n, args.repeats),
        "pipeline": _timed(whole, n, args.repeats),
    }
    when = datetime.now(UTC).isoformat(timespec="seconds")
    if args.json:
        print(json.dumps({"date": when, "uplinks": n, "steps": steps}))
        return 0
    print(f"{when}: {n} uplinks, {args.devices} LHT65 devices, {args.repeats} repeats")
    for name, vals in steps.items():
        print(
            f"  {name:15} {statistics.median(vals):6.1f} µs/uplink"
            f"  (range {min(vals):.1f}-{max(vals):.1f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
