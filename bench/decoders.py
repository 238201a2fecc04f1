"""Decoder throughput: decodes per second per registered model, on one core.

Native models are timed on their own vector payloads (every success case of
``decoders/vendors/*/testdata/*.yaml``, round robin), JavaScript codecs on the test
codecs in ``tests/decoders/js/codecs``. Each line is a full ``decoders.decode`` call
(decode + normalize), as ingest runs it. The JS per-call overhead is measured with an
empty codec.

    .venv/bin/python bench/decoders.py [--seconds 0.5] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import decoders  # noqa: E402
from decoders import NATIVE, DecoderCatalog  # noqa: E402
from decoders.js import JsCodecDecoder, load_codecs  # noqa: E402

VENDORS = ROOT / "decoders" / "vendors"
CODECS = ROOT / "tests" / "decoders" / "js" / "codecs"
#: inputs for the test JS codecs: (f_port, payload, variables)
JS_INPUTS: dict[str, list[tuple[int, bytes, dict[str, Any]]]] = {
    "acme/th": [(1, bytes.fromhex("00D7500BB8"), {}), (2, b"\x00", {})],
    "acme/level": [(10, bytes.fromhex("04D20E10"), {"mount_height_mm": 2000})],
    "example/thermometer": [(1, bytes.fromhex("08660BC4"), {})],
}
TARGET = 50_000


Input = tuple[int, bytes, dict[str, Any] | None]


def vector_inputs() -> dict[str, list[Input]]:
    """model id -> the payloads of its success vectors."""
    out: dict[str, list[Input]] = {}
    for path in sorted(VENDORS.glob("*/testdata/*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in doc.get("cases") or []:
            if "error" in case:
                continue
            payload = bytes.fromhex("".join(str(case.get("payload", "")).split()))
            out.setdefault(doc["model"], []).append(
                (int(case["f_port"]), payload, case.get("variables"))
            )
    return out


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn``, timed in batches for at least ``seconds``."""
    fn()  # warm up
    n, batch, start = 0, 1, time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        n += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed
        batch = min(batch * 2, 10_000)


def bench_model(
    registry: DecoderCatalog, model: str, inputs: list[Input], seconds: float
) -> tuple[float, float]:
    """(decode only, decode + normalize) calls per second, round robin over ``inputs``."""
    decoder = registry.get(model)
    i = 0

    def step1() -> None:
        nonlocal i
        f_port, payload, variables = inputs[i % len(inputs)]
        i += 1
        decoder.decode(payload, f_port, variables)

    def both() -> None:
        nonlocal i
        f_port, payload, variables = inputs[i % len(inputs)]
        i += 1
        decoders.decode(model, payload, f_port, variables, catalog=registry)

    return rate(step1, seconds), rate(both, seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.5, help="time per model")
    ap.add_argument("--json", action="store_true", help="print JSON instead of lines")
    args = ap.parse_args()

    results: list[dict[str, Any]] = []
    vectors = vector_inputs()
    for model in NATIVE:
        inputs = vectors.get(model)
        if not inputs:
            results.append({"model": model, "kind": "native", "per_s": None, "note": "no vectors"})
            continue
        dec, full = bench_model(NATIVE, model, inputs, args.seconds)
        results.append(
            {
                "model": model,
                "kind": "native",
                "per_s": dec,
                "full_per_s": full,
                "cases": len(inputs),
            }
        )

    js = load_codecs(CODECS)
    for model, js_inputs in JS_INPUTS.items():
        dec, full = bench_model(js, model, [(p, b, v) for p, b, v in js_inputs], args.seconds)
        results.append(
            {
                "model": model,
                "kind": "javascript",
                "per_s": dec,
                "full_per_s": full,
                "cases": len(js_inputs),
            }
        )

    empty = JsCodecDecoder.from_source(
        "function decodeUplink(input) { return {data: {}}; }", filename="empty.js"
    )
    overhead_s = 1 / rate(lambda: empty.decode(b"\x01\x02\x03\x04", 1), args.seconds)
    empty.close()

    if args.json:
        print(json.dumps({"models": results, "js_call_overhead_us": overhead_s * 1e6}, indent=2))
        return 0
    width = max(len(r["model"]) for r in results)
    print(f"{'model':{width}}  {'kind':10} {'decode/s':>10} {'+normalize/s':>13}")
    for r in results:
        if r["per_s"] is None:
            print(f"{r['model']:{width}}  {r['kind']:10} {'-':>10} {'-':>13}  ({r['note']})")
            continue
        mark = ""
        if r["kind"] == "native":
            mark = "" if r["per_s"] >= TARGET else f"  below {TARGET:,}/s"
        print(
            f"{r['model']:{width}}  {r['kind']:10} {r['per_s']:10,.0f} {r['full_per_s']:13,.0f}{mark}"
        )
    print(f"JavaScript per-call overhead (empty codec): {overhead_s * 1e6:.0f} µs per decode")
    return 0


if __name__ == "__main__":
    sys.exit(main())
