"""Dependency health: log once when a dependency goes down and once when it is back.

Home Assistant's *log-when-unavailable* habit: the first failure is one ERROR that names
the setting to check, further failures of the same outage are silent (they are counted
in metrics), and recovery is one INFO line. The state is mirrored into the readiness
state (:data:`lorawan_monitor.metrics.STATE`) and the gauge ``lorawan_dependency_up``.
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import Gauge

from lorawan_monitor.metrics import STATE

DEPENDENCY_UP = Gauge(
    "lorawan_dependency_up",
    "1 while a dependency answers, 0 while it is down (mqtt, store, registry)",
    ["dependency"],
)


class DependencyHealth:
    """Up/down state of one dependency (``mqtt``, ``store``, ``registry``)."""

    def __init__(self, name: str, logger: logging.Logger) -> None:
        self.name = name
        self._log = logger
        self._lock = threading.Lock()
        self.error: str | None = None

    @property
    def down_now(self) -> bool:
        return self.error is not None

    def down(self, message: str) -> bool:
        """Record an outage; log it (ERROR) only if it is new. True when newly down."""
        with self._lock:
            new = self.error is None
            self.error = message
        STATE.set_dependency_error(self.name, message)
        DEPENDENCY_UP.labels(dependency=self.name).set(0)
        if new:
            self._log.error("%s", message)
        return new

    def up(self, message: str) -> bool:
        """Record that the dependency answers; log ``message`` (INFO) only after an outage."""
        with self._lock:
            was_down = self.error is not None
            self.error = None
        STATE.set_dependency_error(self.name, None)
        DEPENDENCY_UP.labels(dependency=self.name).set(1)
        if was_down:
            self._log.info("%s", message)
        return was_down
