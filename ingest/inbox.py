"""The ingest's inbox and back-pressure: the MQTT callback hands messages over here.

The inbox is bounded: when the processor falls behind, the MQTT thread waits in
:meth:`InboxMixin.feed`, paho stops reading, and the broker keeps the (un-acknowledged)
rest, so memory stays bounded. A deque and two events instead of ``queue.Queue``: the
hand-over costs a fraction of Queue's lock + condition round trips per message (#2).

A part of :class:`ingest.service.IngestService` (which creates the attributes below).
"""

from __future__ import annotations

import threading
from collections import deque

from ingest.models import RawMessage


class InboxMixin:
    """``feed()`` (any thread) and ``_drain()`` (the processor thread)."""

    _lock: threading.Lock
    _received: int
    _inbox: deque[RawMessage]
    _max_queued: int
    _chunk_size: int
    _stop: threading.Event
    _has_work: threading.Event
    _has_room: threading.Event

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
