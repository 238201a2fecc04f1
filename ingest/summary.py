"""A periodic one-line summary at INFO: that ingest works, in numbers, without metrics.

Counters belong in ``/metrics``; but an operator who looks at ``journalctl`` or
``docker logs`` should see within minutes that messages arrive and are stored, and what
happens to the rest::

    last 300 s: received 120 messages: stored 110, ignored 5, rejected 5 (malformed 3,
    decode_error 2); points written 560, in the buffer 0, dropped by the store 0

Every ``LORAWAN_INGEST__SUMMARY_INTERVAL`` seconds (0 = off), and once more at stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Protocol

log = logging.getLogger("ingest")


class _Buffer(Protocol):
    @property
    def depth(self) -> int: ...


class Counted(Protocol):
    """What the summary reads of the ingest service (counters it keeps anyway)."""

    @property
    def received(self) -> int: ...

    @property
    def outcomes(self) -> Mapping[tuple[str, str], int]: ...
    @property
    def points_written(self) -> int: ...
    @property
    def points_rejected(self) -> int: ...
    @property
    def buffer(self) -> _Buffer: ...


class Summary:
    def __init__(self, service: Counted, interval: float) -> None:
        self._service = service
        self._interval = interval
        self._stop = threading.Event()
        self._since = time.monotonic()
        self._last = self._snapshot()
        self._thread = threading.Thread(target=self._run, name="ingest-summary", daemon=True)

    @classmethod
    def start_for(cls, service: Counted, interval: float) -> Summary | None:
        """A running summary, or None when ``interval`` is 0 (off)."""
        if interval <= 0:
            return None
        summary = cls(service, interval)
        summary._thread.start()
        return summary

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.log_once()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.log_once()

    def _snapshot(self) -> tuple[int, dict[tuple[str, str], int], int, int]:
        s = self._service
        # dict(Counter) is one C-level merge: safe while the processor thread adds a key
        return s.received, dict(s.outcomes), s.points_written, s.points_rejected

    def log_once(self) -> str:
        """Log (and return) the line for the time since the previous one."""
        now = time.monotonic()
        received, outcomes, written, rejected = self._snapshot()
        r0, o0, w0, x0 = self._last
        self._last, since, self._since = (received, outcomes, written, rejected), self._since, now
        delta = {k: n - o0.get(k, 0) for k, n in outcomes.items() if n - o0.get(k, 0)}
        by_outcome = {
            o: sum(n for (out, _), n in delta.items() if out == o)
            for o in ("stored", "ignored", "rejected")
        }
        reasons = ", ".join(
            f"{reason} {n}" for (out, reason), n in sorted(delta.items()) if out == "rejected"
        )
        line = (
            f"last {now - since:.0f} s: received {received - r0} messages: "
            f"stored {by_outcome['stored']}, ignored {by_outcome['ignored']}, "
            f"rejected {by_outcome['rejected']}" + (f" ({reasons})" if reasons else "") + "; "
            f"points written {written - w0}, in the buffer {self._service.buffer.depth}, "
            f"dropped by the store {rejected - x0}"
        )
        log.info("%s", line)
        return line
