"""Prometheus metrics of alerting (process-wide, rendered by ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ALERTS_FIRING = Gauge(
    "lorawan_alerts_firing", "Alerts firing now, by rule and severity", ["rule", "severity"]
)
NOTIFICATIONS = Counter(
    "lorawan_notifications_total",
    "Alert notification messages by channel and result (sent, failed: retried later)",
    ["channel", "result"],
)
EVALUATIONS = Counter(
    "lorawan_alert_evaluations_total", "Alert evaluation cycles by result", ["result"]
)
