"""Readiness: the service's state, and dependency health logged once down, once back.

:class:`ServiceState` is what ``/health/ready`` reports. It belongs to the service that
runs: the ingest service owns one and hands it to its transports, sources and registry
applier; the API is given it (``create_app(state=...)``). The ``run`` and ``demo``
commands, which run both in one process, pass the same instance to both; an ``api``
alone reports its own (the registry database it reads).

:class:`DependencyHealth` is Home Assistant's *log-when-unavailable* habit: the first
failure is one ERROR that names the setting to check, further failures of the same
outage are silent (they are counted in metrics), and recovery is one INFO line. The
state is mirrored into a :class:`ServiceState` and the gauge ``lorawan_dependency_up``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from prometheus_client import Gauge

DEPENDENCY_UP = Gauge(
    "lorawan_dependency_up",
    "1 while a dependency answers, 0 while it is down (mqtt, store, registry)",
    ["dependency"],
)


@dataclass
class ServiceState:
    """What readiness reports. Updated by ingest, read by the API.

    Written from several threads (each source's MQTT network thread, the ingest's
    processor and writer, the registry applier) and read from the API's. The lock guards
    what is changed in place or must be seen together: the two dicts, the store's
    ``(sink_ok, sink_error)`` and the registry's ``(registry_pending, registry_ok,
    registry_error)`` — use the ``set_*`` methods for those. The other fields are single
    assignments of immutable values (bool, int, float, str), atomic under the GIL, and
    :meth:`ready` reads all of them under the lock, as one snapshot."""

    mqtt_connected: bool = False
    mqtt_enabled: bool = False
    sink_ok: bool = True
    sink_error: str | None = None
    buffer_depth: int = 0
    buffer_limit: int = 0
    buffer_oldest_age: float = 0.0
    points_dropped: int = 0
    #: why a dependency is down (``mqtt``, ``registry``; the store uses ``sink_error``),
    #: in the words of the ERROR that was logged, naming the setting to check
    dependency_errors: dict[str, str] = field(default_factory=dict)
    #: per source of a multi-source ingest (#16): name -> (up, why it is down)
    sources: dict[str, tuple[bool, str | None]] = field(default_factory=dict)
    #: registry updates waiting in the durable buffer (#20); registry_ok False while down
    registry_pending: int = 0
    registry_ok: bool = True
    registry_error: str | None = None
    #: the writer's last unexpected error while it keeps failing (None when writing)
    writer_error: str | None = None
    started: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set_sink(self, ok: bool, error: str | None) -> None:
        """The time-series store answers (``ok``) or not, and why."""
        with self._lock:
            self.sink_ok, self.sink_error = ok, error

    def set_registry(self, pending: int, ok: bool, error: str | None) -> None:
        """The registry applier's backlog and whether the registry answers (and why not)."""
        with self._lock:
            self.registry_pending, self.registry_ok, self.registry_error = pending, ok, error

    def set_dependency_error(self, name: str, message: str | None) -> None:
        with self._lock:
            if message is None:
                self.dependency_errors.pop(name, None)
            else:
                self.dependency_errors[name] = message

    def set_source(self, name: str, up: bool | None, reason: str | None) -> None:
        """``up=None``: the source was stopped on purpose and is no longer reported."""
        with self._lock:
            if up is None:
                self.sources.pop(name, None)
            else:
                self.sources[name] = (up, reason)

    def ready(self) -> tuple[bool, list[str]]:
        problems: list[str] = []
        with self._lock:
            errors = dict(self.dependency_errors)
            sources = dict(self.sources)
            mqtt_enabled, mqtt_connected = self.mqtt_enabled, self.mqtt_connected
            sink_ok, sink_error = self.sink_ok, self.sink_error
            registry = (self.registry_pending, self.registry_ok, self.registry_error)
            writer_error = self.writer_error
            buffer_depth, buffer_limit = self.buffer_depth, self.buffer_limit
        for name, (up, why) in sources.items():
            if not up:
                problems.append(why or f"source {name!r}: not connected")
        if mqtt_enabled and not mqtt_connected and not sources:
            why = errors.get("mqtt")
            problems.append(
                f"not connected to the MQTT broker: {why}"
                if why
                else "not connected to the MQTT broker"
            )
        if "registry" in errors:
            problems.append(errors["registry"])
        if not sink_ok:
            problems.append(f"time-series store unavailable: {sink_error or 'unknown'}")
        registry_pending, registry_ok, registry_error = registry
        if not registry_ok:
            problems.append(
                f"registry unavailable ({registry_pending} updates buffered): "
                f"{registry_error or 'unknown'}"
            )
        if writer_error:
            problems.append(f"the writer is failing: {writer_error}")
        if buffer_limit and buffer_depth > 0.9 * buffer_limit:
            problems.append(f"buffer nearly full ({buffer_depth}/{buffer_limit})")
        return (not problems, problems)


class DependencyHealth:
    """Up/down state of one dependency (``mqtt``, ``store``, ``registry``).

    ``state``: the service state that readiness reads (None: logged and gauged only)."""

    def __init__(
        self, name: str, logger: logging.Logger, state: ServiceState | None = None
    ) -> None:
        self.name = name
        self._log = logger
        self._state = state
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
        if self._state is not None:
            self._state.set_dependency_error(self.name, message)
        DEPENDENCY_UP.labels(dependency=self.name).set(0)
        if new:
            self._log.error("%s", message)
        return new

    def up(self, message: str) -> bool:
        """Record that the dependency answers; log ``message`` (INFO) only after an outage."""
        with self._lock:
            was_down = self.error is not None
            self.error = None
        if self._state is not None:
            self._state.set_dependency_error(self.name, None)
        DEPENDENCY_UP.labels(dependency=self.name).set(1)
        if was_down:
            self._log.info("%s", message)
        return was_down
