"""Cost of the zero-configuration paths (#13): TTS normalized_payload and Device
Repository codecs.

Prints, on one core:
* ``normalize_measurements`` calls per second on a typical normalized payload;
* ``Pipeline.process`` messages per second for the same TTS uplink with
  ``normalized_payload`` + ``decoded_payload`` (lns_normalized) and with
  ``decoded_payload`` only (lns_decoded), to show what the mapping adds;
* the first-uplink cost of a Device Repository codec (resolve + compile, lazily) and its
  per-call cost with ``normalizeUplink`` (fixture repository of the tests).

    .venv/bin/python bench/normalized.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import decoders  # noqa: E402
from decoders import NATIVE  # noqa: E402
from decoders.normalized import normalize_measurements  # noqa: E402
from decoders.repository import with_repository  # noqa: E402
from ingest.models import RawMessage  # noqa: E402
from ingest.pipeline import Pipeline  # noqa: E402

FIXTURES = ROOT / "tests" / "ingest" / "fixtures"
REPOSITORY = ROOT / "tests" / "decoders" / "device_repository"


def rate(fn: Callable[[], object], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            fn()
        n += 200
    return n / elapsed


def _message(body: dict[str, object]) -> RawMessage:
    ids = body["end_device_ids"]
    assert isinstance(ids, dict)
    topic = f"v3/{ids['application_ids']['application_id']}@ttn/devices/{ids['device_id']}/up"
    return RawMessage(topic=topic, payload=json.dumps(body).encode())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()
    body = json.loads((FIXTURES / "tts_uplink_normalized.json").read_bytes())
    measurements = body["uplink_message"]["normalized_payload"]
    r = rate(lambda: normalize_measurements(measurements), args.seconds)
    print(f"normalize_measurements: {r:,.0f} calls/s ({1e6 / r:.1f} µs per call)")

    pipeline = Pipeline()
    with_norm = _message(body)
    plain = json.loads(json.dumps(body))
    del plain["uplink_message"]["normalized_payload"]
    without = _message(plain)
    r1 = rate(lambda: pipeline.process(with_norm), args.seconds)
    r2 = rate(lambda: pipeline.process(without), args.seconds)
    print(f"pipeline, TTS uplink lns_normalized: {r1:,.0f} msg/s ({1e6 / r1:.0f} µs)")
    print(f"pipeline, TTS uplink lns_decoded:    {r2:,.0f} msg/s ({1e6 / r2:.0f} µs)")

    registry = with_repository(NATIVE, REPOSITORY)
    start = time.perf_counter()
    decoder = registry.find("elsys/ers")
    first = time.perf_counter() - start
    payload = bytes.fromhex("0100E202290400270506060308070E10")
    r3 = rate(
        lambda: decoders.decode("elsys/ers", payload, 1, catalog=registry, decoder=decoder),
        args.seconds,
    )
    print(f"repository codec, first uplink (resolve + compile): {first * 1000:.1f} ms")
    print(f"repository codec with normalizeUplink: {r3:,.0f} decodes/s ({1e6 / r3:.0f} µs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
