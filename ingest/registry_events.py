"""Registry event dispatch: what the registry must record for a processed chunk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from ingest.pipeline import ProcessResult
from ingest.registry_queue import Battery, CodecError, Work


def registry_work(results: Sequence[ProcessResult]) -> Work:
    """What the registry must record for a chunk: uplink records, battery levels from
    status events, codec errors the network server reported."""
    work = Work(records=[r.record for r in results if r.record is not None])
    for r in results:
        ev = r.event
        if ev is None or r.device_key is None:
            continue
        if ev.kind == "status" and ev.battery is not None and ev.time is not None:
            work.batteries.append(Battery(r.device_key, ev.time, ev.battery))
        elif ev.kind in ("log", "error") and (ev.code or "").upper() == "UPLINK_CODEC":
            work.codec_errors.append(
                CodecError(
                    r.device_key,
                    ev.time or datetime.now(UTC),
                    ev.description or "codec error reported by the network server",
                    ev.uplink_id,
                )
            )
    return work


def without(work: Work, drop: set[int]) -> Work:
    return Work(
        records=[r for r in work.records if id(r) not in drop],
        batteries=[b for b in work.batteries if id(b) not in drop],
        codec_errors=[c for c in work.codec_errors if id(c) not in drop],
    )
