"""The ingest's writer: buffered points to the store in batches, with backoff.

It forwards buffered points to the store in batches bounded by size and time, deletes
what the store confirmed, backs off while the store is down (honouring Retry-After), and
isolates what the store refuses or nobody can parse: dead-lettered with its reason and
counted, never stopping the writer (#11).

A part of :class:`ingest.service.IngestService` (which creates the attributes below).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence

from ingest.buffer import Chunk, DeadLetter, DurableBuffer
from lorawan_monitor import metrics as m
from lorawan_monitor.errors import SinkAuthError, SinkUnavailableError
from lorawan_monitor.health import DEPENDENCY_UP, ServiceState
from lorawan_monitor.settings import Settings
from storage.base import TimeSeriesStore

log = logging.getLogger(__name__)

#: the topic of dead letters the writer makes from points the store refused
WRITER_TOPIC = "$lorawan-monitor/writer"
#: unexpected write failures of the same chunk before its lines are dead-lettered
MAX_WRITE_ATTEMPTS = 5


class WriterMixin:
    """The writer thread's loop (``_write_loop``)."""

    settings: Settings
    store: TimeSeriesStore
    buffer: DurableBuffer
    state: ServiceState
    points_written: int
    points_rejected: int
    _stop: threading.Event
    _written_event: threading.Event
    _processed: int
    _received: int
    _sink_down: bool

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
                    self.state.set_sink(True, None)
                DEPENDENCY_UP.labels(dependency="store").set(1)
            except (SinkUnavailableError, SinkAuthError) as exc:
                if not self._sink_down:
                    log.error("time-series store unavailable: %s; buffering", exc)
                    self._sink_down = True
                self.state.set_sink(False, str(exc))
                DEPENDENCY_UP.labels(dependency="store").set(0)
                m.WRITE_BATCHES.labels(result=exc.reason).inc()
                wait = getattr(exc, "retry_after", None) or backoff
                backoff = min(backoff * 2, 30.0)
                self._stop.wait(wait)
            except Exception as exc:
                log.exception("unexpected error writing to the store")
                failures = failures + 1 if chunks[0].id == failed_chunk else 1
                failed_chunk = chunks[0].id
                self.state.writer_error = f"{type(exc).__name__}: {exc}"[:300]
                if failures >= MAX_WRITE_ATTEMPTS:  # a poison chunk: set aside, go on
                    self._dead_letter_lines(
                        [(ln, "write_failed", repr(exc)) for c in chunks for ln in c.lines]
                    )
                    self.buffer.remove(chunks)
                    failures = 0
                self._stop.wait(backoff)
            else:
                failures = 0
                self.state.writer_error = None
            m.BUFFER_DEPTH.set(self.buffer.depth)
            age = self.buffer.oldest_age()
            m.BUFFER_OLDEST_AGE.set(age)
            self.state.buffer_oldest_age = age
            self.state.points_dropped = self.buffer.dropped
            self.state.buffer_depth = self.buffer.depth
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
