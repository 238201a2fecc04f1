"""The ingest service: transport -> processor thread -> durable buffer -> writer thread -> store.

* The MQTT callback only enqueues (it never waits on the database), so the broker is
  drained as fast as it delivers.
* The processor takes chunks of messages, runs the pipeline, commits the resulting
  points, dead letters and registry updates to the durable buffer in one transaction,
  and only then acknowledges the broker messages.
* The registry applier (ingest/registry_queue.py) applies the buffered registry updates
  in order, with retries while the registry is down (#20).
* The writer forwards buffered points to the store in batches bounded by size and
  time, deletes what the store confirmed, and backs off while the store is down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from decoders.registry import NATIVE, DecoderRegistry
from ingest.buffer import Chunk, DeadLetter, DurableBuffer
from ingest.models import RawMessage
from ingest.pipeline import Pipeline, ProcessResult
from ingest.registry_queue import Battery, CodecError, RegistryApplier, Work, encode
from ingest.registry_queue import dead_letter as registry_dead_letter
from ingest.summary import Summary
from ingest.timepolicy import TimePolicy
from lorawan_monitor import metrics as m
from lorawan_monitor.errors import SinkAuthError, SinkError, SinkUnavailableError
from lorawan_monitor.health import DEPENDENCY_UP
from lorawan_monitor.settings import Settings
from storage.base import TimeSeriesStore
from storage.registry_base import DeviceMeta, Registry

log = logging.getLogger(__name__)

#: the topic of dead letters the writer makes from points the store refused
WRITER_TOPIC = "$lorawan-monitor/writer"
#: unexpected write failures of the same chunk before its lines are dead-lettered
MAX_WRITE_ATTEMPTS = 5


class _Transport(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def ack(self, tokens: Sequence[Any]) -> None: ...


class IngestService:
    """Owns the threads of one ingest worker. ``start()`` / ``stop()``; ``feed()`` for
    messages that come from elsewhere (gap refill, tests)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: TimeSeriesStore,
        registry: Registry | None = None,
        decoders: DecoderRegistry | None = None,
        buffer_path: Path | None = None,
        transport_factory: Callable[[Callable[[RawMessage], None]], _Transport] | None = None,
        chunk_size: int = 2000,
        max_queued: int = 4000,
        meta_ttl: float = 30.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.buffer = DurableBuffer(
            buffer_path or settings.storage.data_dir / "buffer.db",
            max_points=settings.storage.buffer_max_points,
            policy=settings.storage.buffer_full_policy,
            synchronous=settings.storage.buffer_synchronous,
            dead_letter_max_bytes=settings.ingest.dead_letter_max_bytes,
            dead_letter_payload_bytes=settings.ingest.dead_letter_payload_bytes,
        )
        self.pipeline = Pipeline(
            decoder_registry=decoders or NATIVE,
            meta_lookup=self._meta,
            envelope=settings.mqtt.envelope,
            default_site=settings.ingest.default_site,
            drop_simulated=settings.ingest.drop_simulated,
            time_policy=TimePolicy(
                max_future_s=settings.ingest.max_future_skew_s,
                earliest=settings.ingest.earliest_time,
            ),
            max_message_bytes=settings.ingest.max_message_bytes,
            max_decoded_depth=settings.ingest.max_decoded_depth,
            max_decoded_items=settings.ingest.max_decoded_items,
        )
        # bounded: when the processor falls behind, the MQTT thread waits here, paho stops
        # reading, and the broker keeps the (un-acknowledged) rest: memory stays bounded
        # A deque and two events instead of queue.Queue: the hand-over costs a fraction of
        # Queue's lock + condition round trips per message (#2)
        self._inbox: deque[RawMessage] = deque()
        self._max_queued = max_queued
        self._has_work = threading.Event()  # set when the inbox may be non-empty
        self._has_room = threading.Event()  # set when the inbox is below max_queued
        self._has_room.set()
        self._stop = threading.Event()
        self._written_event = threading.Event()
        self._chunk_size = chunk_size
        self._meta_ttl = meta_ttl
        self._meta_cache: dict[str, tuple[float, DeviceMeta | None]] = {}
        self._threads: list[threading.Thread] = []
        self._transport: _Transport | None = None
        self._transport_factory = transport_factory
        self._lock = threading.Lock()
        #: per-instance counters: (outcome, reason) -> count
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.points_written = 0
        self.points_rejected = 0
        self._received = 0
        self._processed = 0
        self._sink_down = False
        m.STATE.buffer_limit = settings.storage.buffer_max_points
        self._meta_down = False
        self._registry_dropped = 0
        self.applier = (
            RegistryApplier(self.buffer, registry, on_applied=self._written_event.set)
            if registry is not None
            else None
        )
        from ingest.refill import Watermarks

        self.watermarks = Watermarks(
            self.buffer.path.parent / "state.db",
            max_entries=settings.ingest.max_refill_applications,
        )
        self.refilled = 0
        self._refill_lock = threading.Lock()
        self._refill_threads: list[threading.Thread] = []
        #: HTTP transport for the TTS Storage Integration client (tests inject a stand-in)
        self._refill_transport: Any = None
        self._summary: Summary | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, *, mqtt: bool = True, subscribe: bool = True) -> None:
        try:
            self.store.ensure_ready()
        except SinkError as exc:  # reported once here; the writer logs when it is back
            log.error("time-series store unavailable at start: %s; buffering", exc)
            self._sink_down = True
            m.STATE.sink_ok, m.STATE.sink_error = False, str(exc)
            DEPENDENCY_UP.labels(dependency="store").set(0)
        self._threads = [
            threading.Thread(target=self._process_loop, name="ingest-processor", daemon=True),
            threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True),
        ]
        for t in self._threads:
            t.start()
        if self.applier is not None:
            self.applier.start()
        if mqtt:
            if self._transport_factory is not None:
                self._transport = self._transport_factory(self.feed)
            else:
                from ingest.transport.mqtt import MqttTransport

                self._transport = MqttTransport(
                    self.settings.mqtt,
                    self.feed,
                    on_connect=self._on_mqtt_connect,
                    subscribe=subscribe,
                )
            self._transport.start()
        if self.settings.tts.enabled:
            self.trigger_refill("start")
        self._summary = Summary.start_for(self, self.settings.ingest.summary_interval)

    # -- gap refill (The Things Stack Storage Integration) ------------------------------

    def _on_mqtt_connect(self, reconnect: bool) -> None:
        if reconnect and self.settings.tts.enabled:
            self.trigger_refill("reconnect")

    def trigger_refill(self, why: str) -> threading.Thread | None:
        """Fetch what TTS stored after our watermarks, in the background (one at a time)."""
        if not self._refill_lock.acquire(blocking=False):
            return None

        def run() -> None:
            from datetime import timedelta

            from ingest.refill import TtsStorageClient, refill

            try:
                tts = self.settings.tts
                max_age = timedelta(hours=tts.max_age_hours)
                apps = self._refill_applications(max_age)
                if not apps:
                    log.info("gap refill (%s): no TTS application known yet", why)
                    return
                client = TtsStorageClient(tts, transport=self._refill_transport)
                try:
                    n = refill(
                        client,
                        self.feed,
                        applications=apps,
                        tenant=tts.tenant,
                        max_age=max_age,
                        on_refused=None if tts.applications else self.watermarks.forget,
                    )
                finally:
                    client.close()
                self.refilled += n
                log.info("gap refill (%s): %d uplinks fetched from The Things Stack", why, n)
            except Exception as exc:
                log.error("gap refill (%s) failed: %s", why, exc)
            finally:
                self._refill_lock.release()

        t = threading.Thread(target=run, name="tts-refill", daemon=True)
        t.start()
        self._refill_threads.append(t)
        return t

    def _refill_applications(self, max_age: Any) -> dict[str, datetime]:
        """The configured TTS applications (``LORAWAN_TTS__APPLICATIONS``) when there are
        any, else those with stored uplinks (confirmed traffic), capped in number — never
        any ``v3/...`` topic seen once (#11)."""
        learned = self.watermarks.get()
        configured = self.settings.tts.applications
        if configured:
            start = datetime.now(UTC) - max_age
            return {a: learned.get(a, start) for a in configured}
        cap = self.settings.ingest.max_refill_applications
        newest = sorted(learned, key=learned.__getitem__, reverse=True)[:cap]
        return {a: learned[a] for a in newest}

    @property
    def transport(self) -> _Transport | None:
        return self._transport

    def retire(self, topics: Sequence[str], *, quiet: float = 1.0, timeout: float = 120.0) -> bool:
        """Leave the share group for good (a retired worker, #20): unsubscribe ``topics``,
        take what the broker had queued for this session (until nothing came for ``quiet``
        seconds and all of it is buffered and acknowledged), end the session (expiry 0),
        then write everything out. True when nothing is left behind: the broker queues
        nothing more for this client id and this buffer is empty."""
        t = self._transport
        deadline = time.monotonic() + timeout
        connected = getattr(t, "connected", None)
        if t is None or connected is None or not connected.wait(min(30.0, timeout)):
            log.error("retire: not connected to the MQTT broker")
            self.stop(flush_timeout=max(1.0, deadline - time.monotonic()))
            return False
        if topics and not t.unsubscribe(topics):  # type: ignore[attr-defined]
            log.error("retire: the broker did not confirm the unsubscribe")
            self.stop(flush_timeout=max(1.0, deadline - time.monotonic()))
            return False
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now = time.monotonic()
            if self._received != last:
                last, since = self._received, now
            elif now - since >= quiet and self._processed >= self._received:
                break
            time.sleep(0.05)
        log.info("retire: %d queued messages taken over; ending the broker session", last)
        self.stop(flush_timeout=max(1.0, deadline - time.monotonic()), expire_session=True)
        left = self.buffer.depth + self.buffer.registry_pending
        if left:
            log.error("retire: %d points / registry updates could not be written yet", left)
        return left == 0

    def stop(self, *, flush_timeout: float = 10.0, expire_session: bool = False) -> None:
        """Stop taking messages, process what was received, try to flush the buffer."""
        if self._transport is not None:
            if expire_session:
                self._transport.stop(expire_session=True)  # type: ignore[call-arg]
            else:
                self._transport.stop()
        deadline = time.monotonic() + flush_timeout
        for t in self._refill_threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))
        while self._processed < self._received and time.monotonic() < deadline:
            time.sleep(0.01)
        while self.buffer.depth and not self._sink_down and time.monotonic() < deadline:
            self._written_event.clear()
            self._written_event.wait(0.05)
        applier = self.applier
        if applier is not None:
            applier.flush()  # no gathering for a fuller batch now
        while (
            applier is not None
            and applier.pending
            and not applier.down
            and time.monotonic() < deadline
        ):
            self._written_event.clear()
            self._written_event.wait(0.05)
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        if self._summary is not None:
            self._summary.stop()  # one last line: what this run did
        if applier is not None:
            applier.stop()
        self.buffer.close()
        self.watermarks.close()

    def feed(self, raw: RawMessage) -> None:
        """Hand one message to the processor (the MQTT callback calls this)."""
        with self._lock:
            self._received += 1
        inbox = self._inbox
        while len(inbox) >= self._max_queued and not self._stop.is_set():
            self._has_room.clear()
            if len(inbox) >= self._max_queued:
                self._has_room.wait(0.1)
        inbox.append(raw)
        if not self._has_work.is_set():
            self._has_work.set()

    @property
    def received(self) -> int:
        """Messages handed to the service so far."""
        return self._received

    def idle(self) -> bool:
        """True when everything received is processed and written, registry updates
        included (tests, benchmarks)."""
        return (
            self._processed >= self._received
            and self.buffer.depth == 0
            and self.buffer.registry_pending == 0
        )

    def wait_idle(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.02)
        return self.idle()

    # -- processor ---------------------------------------------------------------------

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

    def _drain(self) -> list[RawMessage]:
        inbox = self._inbox
        if not inbox:
            self._has_work.clear()
            if not inbox:  # a feed() between the check and clear() has set it again
                self._has_work.wait(0.1)
                if not inbox:
                    return []
        popleft = inbox.popleft
        batch = [popleft() for _ in range(min(len(inbox), self._chunk_size))]
        if not self._has_room.is_set() and len(inbox) < self._max_queued:
            self._has_room.set()
        return batch

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
        m.STATE.buffer_depth = self.buffer.depth
        # counted per batch: a labelled Prometheus counter costs microseconds per call
        outcomes = Counter((r.outcome, r.reason) for r in results)
        self.outcomes.update(outcomes)
        for (outcome, reason), n in outcomes.items():
            m.MESSAGES.labels(outcome=outcome, reason=reason).inc(n)
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

    # -- writer ------------------------------------------------------------------------

    def _write_loop(self) -> None:
        batch_size = self.settings.influx.batch_size
        flush = self.settings.influx.flush_interval
        backoff = 0.5
        failures, failed_chunk = 0, -1
        while not self._stop.is_set():
            chunks = self.buffer.peek(batch_size)
            if not chunks:
                self._written_event.set()
                self._stop.wait(min(flush, 0.05))
                continue
            n = sum(len(c.lines) for c in chunks)
            if (
                n < batch_size
                and time.time() - chunks[0].created < flush
                and not self._stop.is_set()
            ):
                # wait a little for a fuller batch, but never longer than flush_interval
                self._stop.wait(min(0.02, flush))
                if self._processed < self._received:
                    continue
            try:
                self._write(chunks)
                backoff = 0.5
                if self._sink_down:
                    log.info(
                        "time-series store is back; writing %d buffered points", self.buffer.depth
                    )
                    self._sink_down = False
                    m.STATE.sink_ok, m.STATE.sink_error = True, None
                DEPENDENCY_UP.labels(dependency="store").set(1)
            except (SinkUnavailableError, SinkAuthError) as exc:
                if not self._sink_down:
                    log.error("time-series store unavailable: %s; buffering", exc)
                    self._sink_down = True
                m.STATE.sink_ok, m.STATE.sink_error = False, str(exc)
                DEPENDENCY_UP.labels(dependency="store").set(0)
                m.WRITE_BATCHES.labels(result=exc.reason).inc()
                wait = getattr(exc, "retry_after", None) or backoff
                backoff = min(backoff * 2, 30.0)
                self._stop.wait(wait)
            except Exception as exc:
                log.exception("unexpected error writing to the store")
                failures = failures + 1 if chunks[0].id == failed_chunk else 1
                failed_chunk = chunks[0].id
                m.STATE.writer_error = f"{type(exc).__name__}: {exc}"[:300]
                if failures >= MAX_WRITE_ATTEMPTS:  # a poison chunk: set aside, go on
                    self._dead_letter_lines(
                        [(ln, "write_failed", repr(exc)) for c in chunks for ln in c.lines]
                    )
                    self.buffer.remove(chunks)
                    failures = 0
                self._stop.wait(backoff)
            else:
                failures = 0
                m.STATE.writer_error = None
            m.BUFFER_DEPTH.set(self.buffer.depth)
            age = self.buffer.oldest_age()
            m.BUFFER_OLDEST_AGE.set(age)
            m.STATE.buffer_oldest_age = age
            m.STATE.points_dropped = self.buffer.dropped
            m.STATE.buffer_depth = self.buffer.depth
            self._written_event.set()

    def _write(self, chunks: Sequence[Chunk]) -> None:
        """Write the chunks; a line the store refuses or nobody can parse is isolated,
        dead-lettered with its reason and counted — it never stops the writer (#11)."""
        t0 = time.perf_counter()
        all_lines = [ln for c in chunks for ln in c.lines if ln]
        res = self.store.write_lines(all_lines)  # line protocol: the buffer's own format
        written = res.written
        bad: list[tuple[str, str, str]] = [  # (line, reason, message)
            *((ln, "unparseable_line", why) for ln, why in res.unreadable_lines),
            *((ln, "sink_rejected", why) for ln, why in res.rejected_lines),
        ]
        m.WRITE_LATENCY.observe(time.perf_counter() - t0)
        if bad:
            self._dead_letter_lines(bad)
        self.buffer.remove(chunks)
        self.points_written += written
        m.POINTS_WRITTEN.inc(written)
        m.WRITE_BATCHES.labels(result="ok" if not bad else "partial").inc()

    def _dead_letter_lines(self, bad: Sequence[tuple[str, str, str]]) -> None:
        now = time.time()
        dead = [
            DeadLetter(
                time=now,
                topic=WRITER_TOPIC,
                payload=ln.encode("utf-8", "replace"),
                reason=reason,
                message=msg[:1000],
            )
            for ln, reason, msg in bad
        ]
        self.buffer.append([], dead)
        self.points_rejected += len(bad)
        for reason, n in Counter(r for _, r, _ in bad).items():
            m.DROPPED.labels(reason=reason).inc(n)
        log.warning(
            "store refused %d points (dead-lettered): %s",
            len(bad),
            "; ".join(b[2] for b in bad[:2]),
        )


def _registry_work(results: Sequence[ProcessResult]) -> Work:
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


def _without(work: Work, drop: set[int]) -> Work:
    return Work(
        records=[r for r in work.records if id(r) not in drop],
        batteries=[b for b in work.batteries if id(b) not in drop],
        codec_errors=[c for c in work.codec_errors if id(c) not in drop],
    )
