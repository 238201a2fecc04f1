"""``/api/v1/alerts``: the contract shape, the device filter, history, acknowledge and
silence with an API key; transitions in the time-series store (``lorawan_alert``) and the
Prometheus metrics. A real registry (SQLite), real embedded store, real evaluator."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from lorawan_monitor.settings import load_settings
from storage.sqlite import SqliteStore
from tests.alerts.conftest import T0, add_device, uplink
from tests.alerts.helpers import service

KEY = "alert-test-key-123456"
RULES = """
rules:
  - name: pegel-hoch
    kind: threshold
    quantity: water_level
    above: 2.5
    clear: 2.3
    for: 10m
    severity: critical
    title: "Pegel {device_name}: {value_unit}"
  - name: sensor-stumm
    kind: silent
    after: 1h
"""
FIELDS = [
    "id",
    "rule",
    "kind",
    "severity",
    "state",
    "since",
    "value",
    "unit",
    "title",
    "description",
    "device_key",
    "device_name",
    "site",
    "acknowledged",
    "silenced_until",
]


def setup(registry, tmp_path: Path):
    store = SqliteStore(tmp_path / "ts.db")
    add_device(registry, "70B3D57ED0000901", name="Pegel Hafen", site="hafen")
    add_device(registry, "70B3D57ED0000902", name="Pegel Fluss", site="fluss")
    svc = service(registry, RULES, store=store)
    settings = load_settings(api={"api_keys": [KEY]}, storage={"data_dir": tmp_path})
    app = create_app(
        settings,
        store=store,
        registry=registry,
        alert_db=svc.db,
        clock=lambda: T0 + timedelta(minutes=71),
    )
    return svc, store, TestClient(app)


def test_alerts_shape_filter_ack_silence_history(registry, tmp_path):
    svc, store, client = setup(registry, tmp_path)
    uplink(registry, "70B3D57ED0000901", T0, (("water_level", "", 2.7),))
    uplink(registry, "70B3D57ED0000902", T0, (("water_level", "", 1.0),))
    svc.cycle(T0 + timedelta(minutes=1))  # pegel: pending
    body = client.get("/api/v1/alerts").json()
    assert list(body) == ["alerts"]
    (a,) = body["alerts"]
    assert list(a) == FIELDS
    assert a["id"] == "pegel-hoch:70B3D57ED0000901" and a["state"] == "pending"
    assert a["since"] == "2026-12-03T08:01:00Z"
    assert (a["value"], a["unit"], a["severity"], a["kind"]) == (2.7, "m", "critical", "threshold")
    assert a["title"] == "Pegel Pegel Hafen: 2,7 m"
    assert (a["device_key"], a["device_name"], a["site"]) == (
        "70B3D57ED0000901",
        "Pegel Hafen",
        "hafen",
    )
    assert a["acknowledged"] is False and a["silenced_until"] is None

    svc.cycle(T0 + timedelta(minutes=12))  # pegel firing
    svc.cycle(T0 + timedelta(minutes=70))  # both devices silent for > 1 h
    states = {x["id"]: x["state"] for x in client.get("/api/v1/alerts").json()["alerts"]}
    assert states == {
        "pegel-hoch:70B3D57ED0000901": "firing",
        "sensor-stumm:70B3D57ED0000901": "firing",
        "sensor-stumm:70B3D57ED0000902": "firing",
    }
    only = client.get("/api/v1/alerts", params={"device": "70b3d57ed0000902"}).json()["alerts"]
    assert [x["id"] for x in only] == ["sensor-stumm:70B3D57ED0000902"]

    aid = "pegel-hoch:70B3D57ED0000901"
    assert (
        client.post(f"/api/v1/alerts/{aid}/acknowledge", json={"comment": "x"}).status_code == 401
    )
    r = client.post(
        f"/api/v1/alerts/{aid}/acknowledge",
        json={"comment": "Feuerwehr informiert", "by": "mk"},
        headers={"X-API-Key": KEY},
    )
    assert r.status_code == 200 and r.json()["acknowledged"] is True
    r = client.post(
        f"/api/v1/alerts/{aid}/silence",
        json={"duration": "2h", "comment": "Hochwasser bekannt"},
        headers={"X-API-Key": KEY},
    )
    assert r.status_code == 200
    assert r.json()["silenced_until"] == "2026-12-03T11:11:00Z"  # the API clock + 2 h
    bad = client.post(
        f"/api/v1/alerts/{aid}/silence", json={"duration": "ewig"}, headers={"X-API-Key": KEY}
    )
    assert bad.status_code == 422 and "duration" in bad.text
    gone = client.post("/api/v1/alerts/nope:1/acknowledge", json={}, headers={"X-API-Key": KEY})
    assert gone.status_code == 404
    svc.cycle(T0 + timedelta(minutes=71))  # the evaluator keeps the API's columns
    a = next(x for x in client.get("/api/v1/alerts").json()["alerts"] if x["id"] == aid)
    assert a["acknowledged"] is True and a["silenced_until"] == "2026-12-03T11:11:00Z"

    uplink(registry, "70B3D57ED0000901", T0 + timedelta(minutes=72), (("water_level", "", 2.0),))
    svc.cycle(T0 + timedelta(minutes=73))  # back under the line, and heard again
    svc.cycle(T0 + timedelta(minutes=74))
    hist = client.get("/api/v1/alerts/history", params={"device": "70B3D57ED0000901"}).json()
    events = [(h["rule"], h["event"]) for h in hist["history"]]
    assert events == [
        ("sensor-stumm", "resolved"),
        ("pegel-hoch", "resolved"),
        ("pegel-hoch", "silenced"),
        ("pegel-hoch", "acknowledged"),
        ("sensor-stumm", "firing"),
        ("pegel-hoch", "firing"),
        ("pegel-hoch", "pending"),
    ]
    assert hist["history"][3]["comment"] == "Feuerwehr informiert"

    # the dashboards' contract: measurement lorawan_alert
    series = store.query(
        "lorawan_alert", start=T0, end=T0 + timedelta(hours=2), group_by=("rule", "device")
    )
    assert series, "no lorawan_alert points"
    # pending + firing (pegel), firing x2 (silent), resolved (pegel, silent 901)
    assert store.count("lorawan_alert") == 6
    points = {(s.tags["rule"], s.tags["device"]): [p.value for p in s.points] for s in series}
    assert points[("pegel-hoch", "70b3d57ed0000901")] == [2.7, 2.7, 2.0]
    svc.db.close()
    store.close()


def test_metrics_firing_gauge(registry, tmp_path):
    svc, store, client = setup(registry, tmp_path)
    uplink(registry, "70B3D57ED0000901", T0, (("water_level", "", 2.7),))
    svc.cycle(T0 + timedelta(minutes=70))
    text = client.get("/metrics").text
    assert 'lorawan_alerts_firing{rule="pegel-hoch",severity="critical"} 0.0' in text  # pending
    svc.cycle(T0 + timedelta(minutes=81))
    text = client.get("/metrics").text
    assert 'lorawan_alerts_firing{rule="sensor-stumm",severity="warning"} 1.0' in text
    assert 'lorawan_alerts_firing{rule="pegel-hoch",severity="critical"} 1.0' in text
    store.close()
