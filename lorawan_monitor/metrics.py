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
    "MQTT messages by outcome (stored, ignored, rejected) and reason",
    ["outcome", "reason"],
)
DECODE_ERRORS = Counter("lorawan_decode_errors_total", "Decode errors by model", ["model"])
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
    #: the writer's last unexpected error while it keeps failing (None when writing)
    writer_error: str | None = None
    started: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ready(self) -> tuple[bool, list[str]]:
        problems: list[str] = []
        if self.mqtt_enabled and not self.mqtt_connected:
            problems.append("not connected to the MQTT broker")
        if not self.sink_ok:
            problems.append(f"time-series store unavailable: {self.sink_error or 'unknown'}")
        if self.writer_error:
            problems.append(f"the writer is failing: {self.writer_error}")
        if self.buffer_limit and self.buffer_depth > 0.9 * self.buffer_limit:
            problems.append(f"buffer nearly full ({self.buffer_depth}/{self.buffer_limit})")
        return (not problems, problems)


#: the process's service state (one ingest per process)
STATE = ServiceState()
