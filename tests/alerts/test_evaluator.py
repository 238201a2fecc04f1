"""States, transitions and the exact notifications, driven through a real registry
(SQLite) with a real SMTP server and a real webhook receiver; the clock is passed to each
cycle so that ``for``, ``repeat`` and backoff are exact."""

from __future__ import annotations

from datetime import timedelta

import pytest

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


GATEWAY_DIES = """
defaults: {channels: [email]}
rules:
  - name: gateway-stumm
    kind: gateway
    gateways: [gw-hafen]
    after: 15m
    severity: critical
  - name: sensor-stumm
    kind: silent
    select: {site: hafen}
    missed: 2
"""


def test_thirty_sensors_silent_behind_a_dead_gateway_make_one_message(registry, smtp):
    keys = [f"70B3D57ED00001{i:02X}" for i in range(30)]
    for i, k in enumerate(keys):
        add_device(registry, k, name=f"Pegel {i + 1:02d}")
        uplink(
            registry, k, T0 + timedelta(seconds=i), (("water_level", "", 1.0),), gateway="gw-hafen"
        )
    add_device(registry, "70B3D57ED0000F00", name="Rathaus", site="rathaus")
    svc = service(registry, GATEWAY_DIES, {"email": smtp.url()}, group_wait=600.0)
    for minute in range(0, 40, 2):  # the gateway dies at T0; the rathaus sensor is elsewhere
        t = T0 + m(minute)
        uplink(registry, "70B3D57ED0000F00", t, gateway="gw-rathaus")
        svc.cycle(t + timedelta(seconds=40))
    assert len(smtp.mails) == 1, [x.subject for x in smtp.mails]
    mail = smtp.mails[0]
    assert mail.subject == "31 Alarmmeldungen: 31 ausgelöst, 0 behoben"
    body = mail.body
    assert body.index("Gateway gw-hafen empfängt nichts") < body.index("Pegel 01")  # critical first
    for i in range(30):
        assert f"[AUSGELÖST] Sensor Pegel {i + 1:02d} meldet sich nicht" in body
    assert "Rathaus" not in body
    firing = svc.db.active()
    assert len(firing) == 31 and {a["state"] for a in firing} == {"firing"}
    assert len(svc.db.outbox(status="sent")) == 31  # one row per alert, sent as one message


def test_battery_drained_percent_and_volts(registry, webhook):
    rules = """
rules:
  - name: batterie
    kind: battery
    percent: 20
    volts: 2.9
    channels: [ticket]
"""
    add_device(registry, "70B3D57ED0000101", name="CO2 Klassenzimmer", site="schule")
    add_device(registry, "70B3D57ED0000102", name="Frost Brücke", site="bruecke")
    svc = service(registry, rules, {"ticket": webhook.url})
    for step in range(6):
        t = T0 + m(10 * step)
        uplink(registry, "70B3D57ED0000101", t, (("battery", "", 30.0 - 3 * step),))
        uplink(registry, "70B3D57ED0000102", t, (("battery_voltage", "", 3.0),))
        svc.cycle(t + timedelta(seconds=5))
    # 30, 27, 24, 21, 18 (fires), 15
    assert len(webhook.posts) == 1
    post = webhook.posts[0]
    assert post["title"] == "[AUSGELÖST] Batterie schwach: CO2 Klassenzimmer (18 %)"
    assert "Batteriestand 18 % (Grenze 20 %). Standort: schule." in post["message"]
    assert [a["value"] for a in svc.db.active()] == [15.0]


def test_battery_hovering_at_the_line_gives_one_alert_with_clear(registry, webhook):
    """A battery oscillating around 15 % (temperature, load): with ``clear: 20`` one alert,
    resolved once it is back at 20 % or above (a new battery)."""
    rules = """
rules:
  - name: batterie
    kind: battery
    percent: 15
    clear: 20
    channels: [ticket]
"""
    add_device(registry, "70B3D57ED0000103", name="Pegel Steg", site="hafen")
    svc = service(registry, rules, {"ticket": webhook.url})
    levels = [16.0, 14.0, 16.0, 14.5, 17.0, 14.0, 19.5, 15.5, 21.0, 22.0]
    states = []
    for step, level in enumerate(levels):
        t = T0 + m(10 * step)
        uplink(registry, "70B3D57ED0000103", t, (("battery", "", level),))
        svc.cycle(t + timedelta(seconds=5))
        active = svc.db.active()
        states.append(active[0]["state"] if active else "ok")
    assert states == ["ok"] + ["firing"] * 7 + ["ok", "ok"]
    assert [p["title"] for p in webhook.posts] == [
        "[AUSGELÖST] Batterie schwach: Pegel Steg (14 %)",
        "[BEHOBEN] Batterie schwach: Pegel Steg (15,5 %)",  # the last value while firing
    ]
    assert [h["event"] for h in reversed(svc.db.history())] == ["firing", "resolved"]


def test_battery_without_clear_flaps_at_the_line(registry, webhook):
    """The same oscillation without ``clear``: every crossing is a transition (what the
    clear level prevents; this pins the default behaviour)."""
    rules = """
rules:
  - name: batterie
    kind: battery
    percent: 15
    channels: [ticket]
"""
    add_device(registry, "70B3D57ED0000104", name="Pegel Mole", site="hafen")
    svc = service(registry, rules, {"ticket": webhook.url})
    for step, level in enumerate([16.0, 14.0, 16.0, 14.5, 17.0]):
        t = T0 + m(10 * step)
        uplink(registry, "70B3D57ED0000104", t, (("battery", "", level),))
        svc.cycle(t + timedelta(seconds=5))
    events = [h["event"] for h in reversed(svc.db.history())]
    assert events == ["firing", "resolved", "firing", "resolved"]


def test_decode_errors_last_three(registry, smtp):
    rules = """
rules:
  - name: dekodierfehler
    kind: decode
    last: 3
    channels: [email]
"""
    add_device(registry, "70B3D57ED0000201", name="Zähler Markt", site="markt")
    svc = service(registry, rules, {"email": smtp.url()})
    outcomes = ["decoded", "error", "error", "decoded", "error", "error", "error", "error"]
    for i, st in enumerate(outcomes):
        t = T0 + m(i)
        err = "expected 11 bytes, got 7" if st == "error" else None
        uplink(registry, "70B3D57ED0000201", t, status=st, error=err)
        svc.cycle(t + timedelta(seconds=5))
    assert [x.subject for x in smtp.mails] == [
        "[AUSGELÖST] Sensor Zähler Markt: Daten nicht lesbar"
    ]
    assert "expected 11 bytes, got 7" in smtp.mails[0].body


def test_smtp_down_then_up_delivered_once_and_failures_counted(registry, smtp):
    from alerts.metrics import NOTIFICATIONS

    failed = NOTIFICATIONS.labels(channel="email", result="failed")
    before = failed._value.get()
    add_device(registry, "70B3D57ED0000301", name="Pegel Mole")
    svc = service(registry, PEGEL.replace("for: 5m", "for: 0s"), {"email": smtp.url()})
    smtp.stop()
    uplink(registry, "70B3D57ED0000301", T0, (("water_level", "", 3.1),))
    svc.cycle(T0 + timedelta(seconds=1))  # fires; SMTP refuses
    t = T0 + timedelta(seconds=1)
    for k in range(4):  # retries after 10, 20, 40, 60 s (the maximum): all refused
        t += timedelta(seconds=10 * 2**k)
        svc.deliver(t)
    row = svc.db.outbox()[0]
    assert row["status"] == "sending" and row["attempts"] == 5  # tried, bound to its key
    assert "not delivered" in row["last_error"]
    assert failed._value.get() - before == 5
    smtp.start()
    svc.deliver(t + timedelta(seconds=5))  # backoff not over yet: nothing
    assert smtp.mails == []
    svc.deliver(t + timedelta(seconds=61))
    svc.deliver(t + timedelta(seconds=200))
    svc.cycle(t + timedelta(seconds=300))
    assert len(smtp.mails) == 1 and "3,1 m" in smtp.mails[0].subject
    assert svc.db.outbox()[0]["status"] == "sent"


def test_webhook_500_then_ok_delivered_once(registry, webhook):
    rules = "rules:\n  - {name: pegel, kind: threshold, quantity: water_level, above: 2, channels: [hook]}\n"
    add_device(registry, "70B3D57ED0000401", name="Pegel Kanal")
    svc = service(registry, rules, {"hook": webhook.url})
    webhook.status = 500
    uplink(registry, "70B3D57ED0000401", T0, (("water_level", "", 2.2),))
    svc.cycle(T0)
    assert webhook.posts == [] and svc.db.outbox()[0]["attempts"] == 1
    webhook.status = 200
    svc.deliver(T0 + timedelta(seconds=11))
    svc.deliver(T0 + timedelta(seconds=30))
    assert len(webhook.posts) == 1 and "2,2 m" in webhook.posts[0]["title"]


def test_a_retried_message_keeps_its_rows_and_its_idempotency_key(registry, webhook, smtp):
    """Every attempt of one message carries one Idempotency-Key; rows that arrive while it
    waits for its retry go out as the next message, with another key (#17). E-mails carry
    the key as X-Lorawan-Notification-Id."""
    rules = (
        "rules:\n  - {name: pegel, kind: threshold, quantity: water_level, above: 2,"
        " channels: [hook, email]}\n"
    )
    add_device(registry, "70B3D57ED0000402", name="Pegel Wehr")
    add_device(registry, "70B3D57ED0000403", name="Pegel Brücke")
    svc = service(registry, rules, {"hook": webhook.url, "email": smtp.url()})
    webhook.status = 500
    uplink(registry, "70B3D57ED0000402", T0, (("water_level", "", 2.2),))
    svc.cycle(T0)  # fires; the webhook refuses; the mail goes out
    uplink(registry, "70B3D57ED0000403", T0 + timedelta(seconds=2), (("water_level", "", 2.4),))
    svc.cycle(T0 + timedelta(seconds=3))  # fires while the first waits for its retry
    assert len(webhook.attempts) == 1  # the channel is backing off: the new row waits
    webhook.status = 200
    svc.deliver(T0 + timedelta(seconds=11))  # the first message again, alone
    svc.deliver(T0 + timedelta(seconds=12))  # then the second
    assert len(webhook.posts) == 2
    first_key = webhook.attempts[0][1]
    assert first_key is not None and first_key.startswith("lm-")
    assert webhook.keys[0] == first_key  # the retry: the same key as the refused attempt
    assert webhook.keys[1] is not None and webhook.keys[1] != first_key
    assert "Wehr" in webhook.posts[0]["title"] and "Brücke" in webhook.posts[1]["title"]
    ids = [m.notification_id for m in smtp.mails]
    assert len(ids) == 2 and all(i and i.startswith("lm-") for i in ids) and ids[0] != ids[1]
    assert {r["status"] for r in svc.db.outbox()} == {"sent"}


def test_restart_neither_resends_nor_forgets(registry, smtp):
    add_device(registry, "70B3D57ED0000501", name="Pegel Nord")
    add_device(registry, "70B3D57ED0000502", name="Pegel Süd")
    rules = PEGEL.replace("for: 5m", "for: 0s")
    first = service(registry, rules, {"email": smtp.url()}, holder="a")
    uplink(registry, "70B3D57ED0000501", T0, (("water_level", "", 2.8),))
    first.cycle(T0)
    assert len(smtp.mails) == 1
    smtp.stop()
    uplink(registry, "70B3D57ED0000502", T0 + m(1), (("water_level", "", 2.9),))
    first.cycle(T0 + m(1))  # the second alert fires; its mail cannot go out
    first.db.release("a")  # the process ends (a crash would let the lease expire instead)
    smtp.start()
    second = service(registry, rules, {"email": smtp.url()}, holder="b")
    second.cycle(T0 + m(2))
    second.cycle(T0 + m(3))
    assert [x.subject for x in smtp.mails] == [
        "[AUSGELÖST] Pegel Pegel Nord: 2,8 m",
        "[AUSGELÖST] Pegel Pegel Süd: 2,9 m",
    ]


def test_repeat_reminder_and_acknowledge_and_silence(registry, smtp):
    rules = PEGEL.replace("for: 5m", "for: 0s\n    repeat: 1h")
    add_device(registry, "70B3D57ED0000601", name="Pegel West")
    add_device(registry, "70B3D57ED0000602", name="Pegel Ost")
    svc = service(registry, rules, {"email": smtp.url()})
    for k in ("70B3D57ED0000601", "70B3D57ED0000602"):
        uplink(registry, k, T0, (("water_level", "", 2.7),))
    svc.cycle(T0)
    assert len(smtp.mails) == 1  # both in one message
    svc.db.acknowledge("pegel-hoch:70B3D57ED0000601", by="mk", comment="Team vor Ort", now=T0)
    svc.db.silence("pegel-hoch:70B3D57ED0000602", until=T0 + m(150), comment="Wartung", now=T0)
    svc.cycle(T0 + m(61))  # reminder due: one acknowledged, one silenced
    assert len(smtp.mails) == 1
    svc.cycle(T0 + m(151))  # silence over: the reminder for Ost
    assert [x.subject for x in smtp.mails[1:]] == ["[ERINNERUNG] Pegel Pegel Ost: 2,7 m"]
    events = [h["event"] for h in svc.db.history(device_key="70B3D57ED0000601")]
    assert events == ["acknowledged", "firing"]


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("influx", marks=pytest.mark.integration)])
def test_aggregate_mean_over_a_window_from_the_store(registry, tmp_path, smtp, kind, request):
    from storage.base import Point
    from storage.sqlite import SqliteStore
    from tests.conftest import influx_store_for

    store = SqliteStore(tmp_path / "ts.db") if kind == "sqlite" else influx_store_for(request)
    rules = """
rules:
  - name: co2-klassenzimmer
    kind: threshold
    select: {tags: {raum: klassenzimmer}}
    quantity: co2
    above: 2000
    clear: 1400
    aggregate: mean
    window: 10m
    title: "Bitte lüften: {device_name} {value_unit}"
    channels: [email]
"""
    add_device(registry, "70B3D57ED0000A01", name="Raum 101", tags={"raum": "klassenzimmer"})
    add_device(registry, "70B3D57ED0000A02", name="Lehrerzimmer", tags={"raum": "buero"})
    svc = service(registry, rules, {"email": smtp.url()}, store=store)

    def co2(key: str, minute: int, value: float) -> None:
        t = T0 + m(minute)
        store.write(
            [
                Point(
                    measurement="co2",
                    tags={"device": key.lower(), "sensor": ""},
                    fields={"value": value},
                    time_ns=int(t.timestamp()) * 1_000_000_000,
                )
            ]
        )

    # a single peak does not fire (mean of the window), a sustained level does
    for minute, value in [(0, 900), (2, 2800), (4, 1000), (6, 1000)]:
        co2("70B3D57ED0000A01", minute, value)
        co2("70B3D57ED0000A02", minute, 5000)  # not selected
        svc.cycle(T0 + m(minute) + timedelta(seconds=5))
    assert smtp.mails == []
    for minute in range(8, 20, 2):
        co2("70B3D57ED0000A01", minute, 2600)
        svc.cycle(T0 + m(minute) + timedelta(seconds=5))
    assert len(smtp.mails) == 1
    assert smtp.mails[0].subject.startswith("[AUSGELÖST] Bitte lüften: Raum 101 ")
    assert smtp.mails[0].subject.endswith(" ppm")
    store.close()


def test_gateway_silent_fires_and_resolves(registry, smtp):
    rules = """
rules:
  - {name: gateway-stumm, kind: gateway, after: 15m, severity: critical, channels: [email]}
"""
    add_device(registry, "70B3D57ED0000B01", name="Pegel Ost")
    add_device(registry, "70B3D57ED0000B02", name="Pegel West")
    svc = service(registry, rules, {"email": smtp.url()})
    for minute in range(0, 60, 5):
        t = T0 + m(minute)
        uplink(registry, "70B3D57ED0000B01", t, gateway="gw-nord")
        if minute < 10 or minute >= 45:
            uplink(registry, "70B3D57ED0000B02", t, gateway="gw-sued")
        svc.cycle(t + timedelta(seconds=10))
    assert [x.subject for x in smtp.mails] == [
        "[AUSGELÖST] Gateway gw-sued empfängt nichts",
        "[BEHOBEN] Gateway gw-sued empfängt nichts",
    ]
    assert (
        "Über das Gateway gw-sued kam seit 03.12.2026 09:05 CET keine Nachricht"
        in smtp.mails[0].body
    )


def test_english_messages(registry, smtp):
    rules = "rules:\n  - {name: still, kind: silent, after: 1h, channels: [email]}\n"
    add_device(registry, "70B3D57ED0000C01", name="Beach counter")
    svc = service(registry, rules, {"email": smtp.url()}, language="en", timezone="UTC")
    uplink(registry, "70B3D57ED0000C01", T0)
    svc.cycle(T0 + m(61))
    (mail,) = smtp.mails
    assert mail.subject == "[FIRING] Sensor Beach counter is silent"
    assert (
        "Warning: Sensor Beach counter is silent\r\nLast message: 2026-12-03 08:00 UTC."
        in mail.body
    )


def test_two_evaluators_at_once_on_sqlite_one_acts(registry, smtp):
    import threading

    rules = PEGEL.replace("for: 5m", "for: 0s")
    add_device(registry, "70B3D57ED0000D01", name="Pegel Brücke")
    uplink(registry, "70B3D57ED0000D01", T0, (("water_level", "", 2.9),))
    a = service(registry, rules, {"email": smtp.url()}, holder="a")
    b = service(registry, rules, {"email": smtp.url()}, holder="b")
    results: dict[str, list[bool]] = {"a": [], "b": []}
    go = threading.Barrier(2)

    def run(name, svc):
        go.wait()
        for k in range(10):
            results[name].append(svc.cycle(T0 + timedelta(seconds=k)).leader)

    threads = [threading.Thread(target=run, args=(n, s)) for n, s in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted([any(results["a"]), any(results["b"])]) == [False, True]  # one acted
    assert len(smtp.mails) == 1
    assert len(a.db.outbox()) == 1 and len(a.db.history()) == 1


class _NoRawReads:
    """A real store whose raw ``query`` is off limits: aggregate rules must push down."""

    def __init__(self, store):
        self._store = store

    def query(self, *args, **kwargs):
        raise AssertionError("an aggregate rule read the window's raw points")

    def __getattr__(self, name):
        return getattr(self._store, name)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("influx", marks=pytest.mark.integration)])
@pytest.mark.parametrize("aggregate", ["mean", "max", "min"])
def test_aggregate_rules_push_down_and_equal_the_raw_computation(
    registry, tmp_path, kind, aggregate, request
):
    import random

    from storage.base import Point
    from storage.sqlite import SqliteStore
    from tests.conftest import influx_store_for

    real = SqliteStore(tmp_path / "ts.db") if kind == "sqlite" else influx_store_for(request)
    rng = random.Random(aggregate)
    keys = [f"70B3D57ED0000B{i:02X}" for i in range(8)]
    pts = []
    for k in keys:
        add_device(registry, k, name=f"Pegel {k[-2:]}")
        for minute in range(0, 30, 2):
            for sensor in ("", "probe"):
                pts.append(
                    Point(
                        measurement="water_level",
                        tags={"device": k.lower(), "sensor": sensor}
                        if sensor
                        else {"device": k.lower()},
                        fields={"value": round(rng.uniform(0.5, 3.5), 3)},
                        time_ns=int((T0 + m(minute)).timestamp()) * 1_000_000_000,
                    )
                )
    real.write(pts)
    now = T0 + m(30)
    for sensor_line, sensor in (("", None), ("    sensor: probe\n", "probe")):
        rules = (
            "rules:\n  - name: pegel\n    kind: threshold\n    quantity: water_level\n"
            f"    above: 2.0\n    aggregate: {aggregate}\n    window: 10m\n{sensor_line}"
        )
        svc = service(registry, rules, store=_NoRawReads(real))
        devs = svc.evaluator.devices()
        got = svc.evaluator._values(svc.rules.rules[0], devs, now)
        raw: dict[str, list[float]] = {}
        for s in real.query("water_level", start=now - m(10), end=now + timedelta(seconds=1)):
            if sensor is not None and s.tags.get("sensor", "") != sensor:
                continue
            raw.setdefault(s.tags["device"].upper(), []).extend(p.value for p in s.points)
        fn = {"mean": lambda xs: sum(xs) / len(xs), "max": max, "min": min}[aggregate]
        assert set(got) == set(raw)
        for k, xs in raw.items():  # the evaluator rounds to 3 decimals (summation order aside)
            assert got[k] == pytest.approx(fn(xs), abs=5e-4 + 1e-9), k
        assert len(got) == 8
    real.close()
