"""Prometheus metrics and the service state behind readiness.

Counters are process-wide (the Prometheus client convention); ``/metrics`` renders
them. Counters are never logged: state changes are logged once (down / back).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "lorawan_messages_total",
    "MQTT messages by outcome (stored, ignored, rejected), reason and source (the name in "
    'LORAWAN_SOURCES; "mqtt" for the one LORAWAN_MQTT__* broker)',
    ["outcome", "reason", "source"],
)
DECODE_ERRORS = Counter("lorawan_decode_errors_total", "Decode errors by model", ["model"])
CODECS_DISABLED = Gauge(
    "lorawan_codecs_disabled",
    "Model ids whose JavaScript codec is disabled because it does not load (decode status "
    "codec_error)",
)
POINTS_WRITTEN = Counter(
    "lorawan_points_written_total", "Points confirmed by the time-series store"
)
WRITE_BATCHES = Counter("lorawan_write_batches_total", "Write batches by result", ["result"])
WRITE_LATENCY = Histogram(
    "lorawan_write_latency_seconds",
    "Latency of one write batch to the time-series store",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BUFFER_DEPTH = Gauge("lorawan_buffer_points", "Points in the durable buffer, not yet confirmed")
BUFFER_OLDEST_AGE = Gauge("lorawan_buffer_oldest_age_seconds", "Age of the oldest buffered point")
DROPPED = Counter("lorawan_dropped_total", "Points or messages dropped, by reason", ["reason"])
REFILLED = Counter("lorawan_refilled_uplinks_total", "Uplinks fetched from TTS Storage Integration")
MQTT_CONNECTED = Gauge("lorawan_mqtt_connected", "1 while connected to the MQTT broker")
SOURCE_UP = Gauge(
    "lorawan_source_up",
    "1 while a source (LORAWAN_SOURCES) is connected and subscribed, 0 while it is not",
    ["source"],
)
REGISTRY_PENDING = Gauge(
    "lorawan_registry_pending",
    "Registry updates (uplink records, status events) buffered durably, not yet applied",
)


@dataclass
class ServiceState:
    """What readiness reports. Updated by ingest, read by the API."""

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
        for name, (up, why) in sources.items():
            if not up:
                problems.append(why or f"source {name!r}: not connected")
        if self.mqtt_enabled and not self.mqtt_connected and not sources:
            why = errors.get("mqtt")
            problems.append(
                f"not connected to the MQTT broker: {why}"
                if why
                else "not connected to the MQTT broker"
            )
        if "registry" in errors:
            problems.append(errors["registry"])
        if not self.sink_ok:
            problems.append(f"time-series store unavailable: {self.sink_error or 'unknown'}")
        if not self.registry_ok:
            problems.append(
                f"registry unavailable ({self.registry_pending} updates buffered): "
                f"{self.registry_error or 'unknown'}"
            )
        if self.writer_error:
            problems.append(f"the writer is failing: {self.writer_error}")
        if self.buffer_limit and self.buffer_depth > 0.9 * self.buffer_limit:
            problems.append(f"buffer nearly full ({self.buffer_depth}/{self.buffer_limit})")
        return (not problems, problems)


#: the process's service state (one ingest per process)
STATE = ServiceState()
