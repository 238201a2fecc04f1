"""Prometheus metrics.

Counters are process-wide (the Prometheus client convention); ``/metrics`` renders
them. Counters are never logged: state changes are logged once (down / back). What
readiness reports is not here: it is the running service's own
:class:`lorawan_monitor.health.ServiceState`.
"""

from __future__ import annotations

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
