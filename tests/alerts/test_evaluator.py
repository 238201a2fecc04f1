"""States, transitions and the exact notifications, driven through a real registry
(SQLite) with a real SMTP server and a real webhook receiver; the clock is passed to each
cycle so that ``for``, ``repeat`` and backoff are exact."""

from __future__ import annotations

from datetime import timedelta

from tests.alerts.conftest import T0, add_device, uplink
from tests.alerts.helpers import service

PEGEL = """
rules:
  - name: pegel-hoch
    kind: threshold
    select: {site: hafen}
    quantity: water_level
    above: 2.5
    clear: 2.3
    for: 5m
    severity: critical
    title: "Pegel {device_name}: {value_unit}"
    description: "Wasserstand {value_unit} über {threshold} seit {since}"
    channels: [email]
"""


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def test_water_level_over_the_line_and_back_one_alert_with_hysteresis(registry, smtp):
    add_device(registry, "70B3D57ED0000001", name="Pegel Hafen")
    svc = service(registry, PEGEL, {"email": smtp.url("hafenmeister@stadt.example")})
    levels = [  # minute, metres
        (0, 2.0),
        (1, 2.6),
        (3, 2.45),
        (7, 2.55),  # pending at 1, still pending at 3 (>= clear), firing at 7
        (8, 2.4),
        (9, 2.6),
        (10, 2.35),
        (11, 2.52),
        (12, 2.31),  # hovering: no new message
        (13, 2.2),  # under the clear value: resolved
    ]
    states = []
    for minute, level in levels:
        t = T0 + m(minute)
        uplink(registry, "70B3D57ED0000001", t, (("water_level", "", level),))
        svc.cycle(t + timedelta(seconds=5))
        active = svc.db.active()
        states.append(active[0]["state"] if active else "ok")
    assert states == [
        "ok",
        "pending",
        "pending",
        "firing",
        "firing",
        "firing",
        "firing",
        "firing",
        "firing",
        "ok",
    ]
    assert len(smtp.mails) == 2
    fired, resolved = smtp.mails
    assert fired.to == ["hafenmeister@stadt.example"]
    assert fired.subject == "[AUSGELÖST] Pegel Pegel Hafen: 2,55 m"
    assert "Kritisch: Pegel Pegel Hafen: 2,55 m" in fired.body
    assert "Wasserstand 2,55 m über 2,5 m seit 03.12.2026 09:01 CET" in fired.body
    assert resolved.subject.startswith("[BEHOBEN] Pegel Pegel Hafen")
    assert "Behoben um 03.12.2026 09:13 CET" in resolved.body
    events = [h["event"] for h in reversed(svc.db.history())]
    assert events == ["pending", "firing", "resolved"]
    assert [r["status"] for r in svc.db.outbox()] == ["sent", "sent"]


def test_pending_that_clears_before_for_sends_nothing(registry, smtp):
    add_device(registry, "70B3D57ED0000002", name="Pegel Schleuse")
    svc = service(registry, PEGEL, {"email": smtp.url()})
    for minute, level in [(0, 2.7), (2, 2.8), (4, 2.1), (10, 2.2)]:
        uplink(registry, "70B3D57ED0000002", T0 + m(minute), (("water_level", "", level),))
        svc.cycle(T0 + m(minute) + timedelta(seconds=5))
    assert smtp.mails == []
    assert svc.db.active() == []
