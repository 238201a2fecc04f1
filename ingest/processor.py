"""The ingest's processor: pipeline, durable commit, acknowledgements and watermarks.

It takes chunks of messages from the inbox, runs the pipeline, commits the resulting
points, dead letters and registry updates to the durable buffer in one transaction, and
only then acknowledges the broker messages; then it counts the outcomes and advances the
refill watermarks (confirmed TTS traffic only).

A part of :class:`ingest.service.IngestService` (which creates the attributes below).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ingest.buffer import DeadLetter, DurableBuffer
from ingest.inbox import InboxMixin
from ingest.models import SINGLE_SOURCE, RawMessage
from ingest.pipeline import Pipeline, ProcessResult
from ingest.registry_events import registry_work as _registry_work
from ingest.registry_events import without as _without
from ingest.registry_queue import RegistryApplier, encode
from ingest.registry_queue import dead_letter as registry_dead_letter
from lorawan_monitor import metrics as m
from lorawan_monitor.health import ServiceState
from storage.registry_base import DeviceMeta, Registry

if TYPE_CHECKING:
    from ingest.refill import Watermarks
    from ingest.service import _Transport

log = logging.getLogger(__name__)


class ProcessorMixin(InboxMixin):
    """The processor thread's loop (``_process_loop``) and ``process_batch``."""

    registry: Registry | None
    buffer: DurableBuffer
    pipeline: Pipeline
    applier: RegistryApplier | None
    state: ServiceState
    watermarks: Watermarks
    outcomes: Counter[tuple[str, str]]
    _transport: _Transport | None
    _processed: int
    _meta_ttl: float
    _meta_cache: dict[str, tuple[float, DeviceMeta | None]]
    _meta_down: bool
    _registry_dropped: int

    def _meta(self, key: str) -> DeviceMeta | None:
        if self.registry is None:
            return None
        now = time.monotonic()
        hit = self._meta_cache.get(key)
        if hit is not None and now - hit[0] < self._meta_ttl:
            return hit[1]
        if self.applier is not None and self.applier.down:
            # the registry does not answer: no lookup per device that could hang the
            # processor on a connect timeout; the last known metadata is used (#20)
            return hit[1] if hit else None
        try:
            meta = self.registry.device_meta(key)
            if self._meta_down:
                self._meta_down = False
                log.info("registry lookups work again")
        except Exception as exc:  # registry trouble must not cost readings
            if not self._meta_down:  # once per outage, not once per device and batch
                self._meta_down = True
                log.warning(
                    "registry lookup failed for %s: %s (using the last known metadata)", key, exc
                )
            meta = hit[1] if hit else None
        self._meta_cache[key] = (now, meta)
        return meta

    def _process_loop(self) -> None:
        while not self._stop.is_set():
            batch = self._drain()
            if batch:
                try:
                    self.process_batch(batch)
                except Exception:  # never let the loop die
                    log.exception("processing a batch of %d messages failed", len(batch))
                with self._lock:
                    self._processed += len(batch)

    def process_batch(self, batch: Sequence[RawMessage]) -> list[ProcessResult]:
        results: list[ProcessResult] = []
        points: list[str] = []
        dead: list[DeadLetter] = []
        for raw in batch:
            try:
                r = self.pipeline.process(raw)
            except Exception as exc:  # a pipeline bug is a rejected message, not a dead loop
                log.exception("unexpected error processing a message on %s", raw.topic)
                r = ProcessResult(outcome="rejected", reason="internal_error", message=repr(exc))
            results.append(r)
            points.extend(r.points)
            if r.outcome == "rejected":
                dead.append(
                    DeadLetter(
                        time=raw.received or time.time(),
                        topic=raw.topic,
                        payload=raw.payload,
                        reason=r.reason,
                        message=r.message or "",
                    )
                )
        registry = None
        work = None
        if self.applier is not None:
            work = _registry_work(results)
            if work:
                blob, bad = encode(work)
                if bad:  # alone, not with its chunk (#11)
                    dead += [registry_dead_letter(i, "registry_rejected", why) for i, why in bad]
                    work = _without(work, {id(i) for i, _ in bad})
                registry = (blob, len(work))
        # points, dead letters and registry updates: durable before the broker hears "ack"
        dropped = self.buffer.append(points, dead, registry)
        if dropped:
            m.DROPPED.labels(reason="buffer_full").inc(dropped)
            log.warning("buffer full: dropped %d points (%s)", dropped, self.buffer.policy)
        if self._transport is not None:
            self._transport.ack([raw.ack_token for raw in batch])
        if self.applier is not None and work is not None:
            self.applier.queued(self.buffer.last_registry_id, work)
            self._count_registry_dropped()
        m.BUFFER_DEPTH.set(self.buffer.depth)
        self.state.buffer_depth = self.buffer.depth
        # counted per batch: a labelled Prometheus counter costs microseconds per call
        per_source = Counter(
            (r.outcome, r.reason, raw.source or SINGLE_SOURCE)
            for r, raw in zip(results, batch, strict=True)
        )
        for (outcome, reason, source), n in per_source.items():
            self.outcomes[(outcome, reason)] += n
            m.MESSAGES.labels(outcome=outcome, reason=reason, source=source).inc(n)
        errors = Counter(
            r.model_id or "unknown"
            for r in results
            if r.record is not None and r.record.status in ("error", "codec_error")
        )
        for model, n in errors.items():
            m.DECODE_ERRORS.labels(model=model).inc(n)
        marks: dict[str, Any] = {}
        for r in results:
            rec = r.record
            # confirmed traffic only: a stored uplink, not any message on a v3/... topic
            if rec is not None and rec.source == "tts" and r.outcome == "stored":
                if rec.application not in marks or rec.received_at > marks[rec.application]:
                    marks[rec.application] = rec.received_at
        if marks:
            self.watermarks.advance(marks)
        return results

    def _count_registry_dropped(self) -> None:
        n = self.buffer.registry_dropped - self._registry_dropped
        if n:
            self._registry_dropped += n
            m.DROPPED.labels(reason="registry_queue_full").inc(n)
            log.warning(
                "registry queue full (%d updates): dropped the %d oldest",
                self.buffer.max_points,
                n,
            )
