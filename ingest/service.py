"""The ingest service: transport -> processor thread -> durable buffer -> writer thread -> store.

:class:`IngestService` owns the threads of one ingest worker and their state; each job
lives in its own module, as a part the service is made of:

* :mod:`ingest.inbox` — the MQTT callback only enqueues (it never waits on the
  database), so the broker is drained as fast as it delivers; bounded (back-pressure).
* :mod:`ingest.processor` — takes chunks of messages, runs the pipeline, commits the
  resulting points, dead letters and registry updates to the durable buffer in one
  transaction, and only then acknowledges the broker messages; advances the refill
  watermarks. :mod:`ingest.registry_events` says what the registry must record.
* The registry applier (:mod:`ingest.registry_queue`) applies the buffered registry
  updates in order, with retries while the registry is down (#20).
* :mod:`ingest.writer` — forwards buffered points to the store in batches bounded by
  size and time, deletes what the store confirmed, and backs off while the store is down.
* :mod:`ingest.gap_refill` — the TTS Storage Integration refill thread.

This module keeps the orchestration: construction, start, stop, retire.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from decoders.catalog import NATIVE, DecoderCatalog
from ingest.buffer import DurableBuffer
from ingest.gap_refill import GapRefillMixin
from ingest.models import RawMessage
from ingest.pipeline import Pipeline
from ingest.processor import ProcessorMixin
from ingest.registry_queue import RegistryApplier
from ingest.summary import Summary
from ingest.timepolicy import TimePolicy
from ingest.transport.mqtt import Left
from ingest.writer import MAX_WRITE_ATTEMPTS, WRITER_TOPIC, WriterMixin
from lorawan_monitor.errors import SinkError
from lorawan_monitor.health import DEPENDENCY_UP, ServiceState
from lorawan_monitor.settings import Settings
from storage.base import TimeSeriesStore
from storage.registry_base import DeviceMeta, Registry

log = logging.getLogger(__name__)

__all__ = ["MAX_WRITE_ATTEMPTS", "WRITER_TOPIC", "IngestService"]


class _Transport(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def ack(self, tokens: Sequence[Any]) -> None: ...
    def leave(self, topics: Sequence[str], timeout: float) -> Left: ...


class IngestService(ProcessorMixin, WriterMixin, GapRefillMixin):
    """Owns the threads of one ingest worker. ``start()`` / ``stop()``; ``feed()`` for
    messages that come from elsewhere (gap refill, tests)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: TimeSeriesStore,
        registry: Registry | None = None,
        decoders: DecoderCatalog | None = None,
        buffer_path: Path | None = None,
        transport_factory: Callable[[Callable[[RawMessage], None], ServiceState], _Transport]
        | None = None,
        chunk_size: int = 2000,
        max_queued: int = 4000,
        meta_ttl: float = 30.0,
        state: ServiceState | None = None,
    ) -> None:
        """``state``: the readiness state this service reports into (a new one when None;
        pass one the API is given too when both run in one process)."""
        self.settings = settings
        self.state = state if state is not None else ServiceState()
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
            decoder_catalog=decoders or NATIVE,
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
        self.state.buffer_limit = settings.storage.buffer_max_points
        self._meta_down = False
        self._registry_dropped = 0
        self.applier = (
            RegistryApplier(
                self.buffer, registry, on_applied=self._written_event.set, state=self.state
            )
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
            self.state.set_sink(False, str(exc))
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
                self._transport = self._transport_factory(self.feed, self.state)
            else:
                from ingest.transport.mqtt import MqttTransport

                self._transport = MqttTransport(
                    self.settings.mqtt,
                    self.feed,
                    on_connect=self._on_mqtt_connect,
                    subscribe=subscribe,
                    state=self.state,
                )
            self._transport.start()
        if self.settings.tts.enabled:
            self.trigger_refill("start")
        self._summary = Summary.start_for(self, self.settings.ingest.summary_interval)

    # -- gap refill (The Things Stack Storage Integration) ------------------------------

    @property
    def transport(self) -> _Transport | None:
        return self._transport

    def retire(self, topics: Sequence[str], *, quiet: float = 1.0, timeout: float = 120.0) -> bool:
        """Leave the share group for good (a retired worker, #20): unsubscribe ``topics``,
        take what the broker had queued for this session (until nothing came for ``quiet``
        seconds and all of it is buffered and acknowledged), end the session (expiry 0),
        then write everything out. True when nothing is left behind: the broker queues
        nothing more for this client id and this buffer is empty. With sources (#16) this
        covers every source's session (``MultiSourceTransport.leave``); one whose broker is
        down makes it False (the others are drained all the same)."""
        t = self._transport
        deadline = time.monotonic() + timeout
        if t is None:
            log.error("retire: not connected to the MQTT broker")
            self.stop(flush_timeout=max(1.0, deadline - time.monotonic()))
            return False
        unfinished, draining = t.leave(topics, min(30.0, timeout))
        if not draining:
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
        if unfinished:
            log.error("retire: the sessions on source(s) %s are not drained", ", ".join(unfinished))
        return left == 0 and not unfinished

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
