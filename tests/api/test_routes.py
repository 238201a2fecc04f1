"""Routes against the real SQLite registry and the real stores (SQLite, and InfluxDB for
readings), seeded through their own APIs in tests/api/conftest.py."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from lorawan_monitor.metrics import DECODE_ERRORS, MESSAGES
from lorawan_monitor.settings import load_settings
from storage.base import Point
from storage.registry import SqlRegistry
from storage.registry_base import UplinkRecord
from storage.sqlite import SqliteStore
from tests.api.conftest import (
    API_KEY,
    BAD_EUI,
    LATE_EUI,
    LHT65_BAD,
    NEVER_EUI,
    NODEC_EUI,
    NOW,
    OK_EUI,
    SILENT_EUI,
    Env,
    build_env,
    make_settings,
)

V1 = "/api/v1"


# --- health -----------------------------------------------------------------------------


def test_live(env: Env) -> None:
    r = env.client.get(f"{V1}/health/live")
    assert r.status_code == 200
    assert r.json()["status"] == "alive"


def test_ready_follows_state_and_store(env: Env) -> None:
    r = env.client.get(f"{V1}/health/ready")
    assert r.status_code == 200, r.text
    assert r.json()["ready"] is True and r.json()["store_reachable"] is True

    env.state.mqtt_enabled = True
    env.state.buffer_depth, env.state.buffer_limit = 950, 1000
    r = env.client.get(f"{V1}/health/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["ready"] is False and body["buffer_depth"] == 950
    assert any("MQTT" in x for x in body["reasons"])
    assert any("buffer" in x for x in body["reasons"])

    env.state.mqtt_connected = True
    env.state.buffer_depth = 10
    assert env.client.get(f"{V1}/health/ready").status_code == 200


def test_ready_503_when_store_unreachable(env: Env, tmp_path: Path) -> None:
    # a real InfluxStore pointed at a loopback port where nothing listens
    from storage.influx import InfluxStore
    from tests.servers import free_port

    dead = InfluxStore(
        load_settings(influx={"url": f"http://127.0.0.1:{free_port()}", "timeout": 1}).influx
    )
    app = create_app(make_settings(), store=dead, registry=env.registry)
    with TestClient(app) as c:
        r = c.get(f"{V1}/health/ready")
        assert r.status_code == 503
        assert r.json()["store_reachable"] is False
        assert "time-series store not reachable" in r.json()["reasons"]
        # and reading from it is a 503 with a message, not a 500
        r = c.get(f"{V1}/devices/{OK_EUI}/readings", params={"quantity": "temperature"})
        assert r.status_code == 503, r.text
        assert "unavailable" in r.json()["detail"]
    dead.close()


# --- devices ----------------------------------------------------------------------------


def test_list_devices_status_lights(env: Env) -> None:
    r = env.client.get(f"{V1}/devices")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 6 and body["count"] == 6
    status = {d["key"]: d["status"] for d in body["data"]}
    assert status == {
        OK_EUI: "ok",
        BAD_EUI: "decode_error",
        NODEC_EUI: "no_decoder",
        NEVER_EUI: "never_seen",
        LATE_EUI: "overdue",
        SILENT_EUI: "overdue",  # no interval configured: learned from its uplinks (#14)
    }


def test_silent_device_overdue_by_its_learned_interval(env: Env) -> None:
    """#14: a parking sensor silent for 4 h is never "ok", with nothing configured."""
    d = env.client.get(f"{V1}/devices/{SILENT_EUI}").json()
    assert d["expected_interval_s"] is None
    assert (d["learned_interval_s"], d["interval_s"]) == (900, 900)  # 30 min / 2 frames too
    assert d["interval_source"] == "learned"
    assert d["status"] == "overdue" and d["overdue"] is True
    late = env.client.get(f"{V1}/devices/{LATE_EUI}").json()
    assert (late["interval_s"], late["interval_source"]) == (1200, "configured")
    ok = env.client.get(f"{V1}/devices/{OK_EUI}").json()
    assert (ok["interval_s"], ok["interval_source"], ok["status"]) == (600, "learned", "ok")
    odd = env.client.get(f"{V1}/devices/{NODEC_EUI}").json()  # heard once: the default
    assert (odd["interval_s"], odd["interval_source"]) == (12 * 3600, "default")
    keys = [x["key"] for x in env.client.get(f"{V1}/devices?overdue=true").json()["data"]]
    assert keys == [SILENT_EUI, LATE_EUI]


def test_problems_only_and_problems_first(env: Env) -> None:
    c = env.client
    probs = c.get(f"{V1}/devices", params={"problems": "true"}).json()
    assert probs["total"] == 5
    assert {d["status"] for d in probs["data"]} == {
        "overdue",
        "decode_error",
        "no_decoder",
        "never_seen",
    }
    ordered = c.get(f"{V1}/devices", params={"sort": "problems"}).json()["data"]
    assert [d["status"] for d in ordered] == [
        "overdue",
        "overdue",
        "decode_error",
        "no_decoder",
        "never_seen",
        "ok",
    ]
    assert [d["key"] for d in ordered[:2]] == [SILENT_EUI, LATE_EUI]  # then by key
    both = c.get(f"{V1}/devices", params={"problems": "true", "sort": "problems"}).json()
    assert [d["key"] for d in both["data"]] == [d["key"] for d in ordered[:5]]
    assert c.get(f"{V1}/devices", params={"sort": "nonsense"}).status_code == 422


def test_deveui_with_separators(env: Env) -> None:
    """#14: DevEUIs are typed as printed on labels: colons, dashes, spaces, any case."""
    c = env.client
    for typed in ("A8:40:41:00:01:81:C1:A0", "a8-40-41-00-01-81-c1-a0", "A840 4100 0181 C1A0"):
        found = c.get(f"{V1}/devices", params={"q": typed}).json()
        assert [d["key"] for d in found["data"]] == [OK_EUI], typed
        assert c.get(f"{V1}/devices/{quote(typed)}").json()["key"] == OK_EUI, typed
    part = c.get(f"{V1}/devices", params={"q": "81:c1:a0"}).json()
    assert [d["key"] for d in part["data"]] == [OK_EUI]
    # a search that is not hex keeps its separators
    assert c.get(f"{V1}/devices", params={"q": "lht65-ok"}).json()["total"] == 1


def test_signal_and_battery_verdicts(env: Env) -> None:
    c = env.client
    ok = c.get(f"{V1}/devices/{OK_EUI}").json()
    # SF7: limit -7.5 dB, SNR 7.5 dB -> margin 15 dB
    assert ok["signal_quality"] == {"verdict": "good", "snr_floor_db": -7.5, "snr_margin_db": 15.0}
    # Dragino LHT65 levels: 3.06 V is above "OK" (2.55 V)
    assert ok["battery_level"]["verdict"] == "good" and ok["battery_level"]["unit"] == "V"
    assert ok["battery_level"]["low"] == 2.55 and "Dragino" in ok["battery_level"]["source"]
    silent = c.get(f"{V1}/devices/{SILENT_EUI}").json()
    # SF10: limit -15 dB, SNR -9 dB -> margin 6 dB: fair
    assert silent["signal_quality"]["verdict"] == "fair"
    assert silent["signal_quality"]["snr_margin_db"] == 6.0
    assert silent["battery_level"] is None  # no vendor levels for these volts: no verdict
    never = c.get(f"{V1}/devices/{NEVER_EUI}").json()
    assert never["signal_quality"] is None and never["battery_level"] is None


def test_last_readings_have_their_time(env: Env) -> None:
    bad = env.client.get(f"{V1}/devices/{BAD_EUI}").json()
    # the last uplink failed to decode: the readings shown are from the one before
    assert bad["last_readings"] and bad["last_readings_age_s"] == pytest.approx(600)
    assert bad["last_seen_age_s"] == pytest.approx(300)
    assert bad["last_readings_at"] is not None


def test_list_devices_filters_and_pagination(env: Env) -> None:
    c = env.client
    errs = c.get(f"{V1}/devices", params={"decode_errors": "true"}).json()
    assert [d["key"] for d in errs["data"]] == [BAD_EUI]
    assert "11 bytes" in errs["data"][0]["decode_error"]

    traffic = c.get(f"{V1}/devices", params={"category": "traffic"}).json()
    assert [d["key"] for d in traffic["data"]] == [SILENT_EUI, NEVER_EUI]
    site = c.get(f"{V1}/devices", params={"site": "town-hall"}).json()
    assert [d["key"] for d in site["data"]] == [OK_EUI]
    late = c.get(f"{V1}/devices", params={"overdue": "true"}).json()
    assert [d["key"] for d in late["data"]] == [SILENT_EUI, LATE_EUI]
    found = c.get(f"{V1}/devices", params={"q": "market"}).json()
    assert [d["key"] for d in found["data"]] == [BAD_EUI]
    found = c.get(f"{V1}/devices", params={"q": OK_EUI[-6:].lower()}).json()
    assert [d["key"] for d in found["data"]] == [OK_EUI]

    all_keys = [d["key"] for d in c.get(f"{V1}/devices").json()["data"]]
    page = c.get(f"{V1}/devices", params={"offset": 1, "limit": 2}).json()
    assert page["total"] == 6 and page["count"] == 2
    assert [d["key"] for d in page["data"]] == all_keys[1:3]


def test_device_detail(env: Env) -> None:
    d = env.client.get(f"{V1}/devices/{OK_EUI.lower()}").json()  # DevEUI in any case
    assert d["key"] == OK_EUI and d["name"] == "Town hall roof"
    assert d["model_id"] == "dragino/lht65" and d["decode_status"] == "decoded"
    assert d["uplink_count"] == 12 and d["last_f_cnt"] == 24
    assert d["fcnt_missed"] == 3
    assert d["fcnt_missed_percent"] == pytest.approx(100 * 3 / 15, abs=0.01)
    assert d["last_seen_age_s"] == pytest.approx(600)
    assert d["rssi"] == -97.0 and d["snr"] == 7.5 and d["spreading_factor"] == 7
    assert d["battery_voltage"] == pytest.approx(3.062)
    units = {(r["quantity"], r["sensor"]): r["unit"] for r in d["last_readings"]}
    assert units[("temperature", "internal")] == "°C"
    assert units[("relative_humidity", "internal")] == "%"
    temps = {r["sensor"]: r["value"] for r in d["last_readings"] if r["quantity"] == "temperature"}
    assert temps["internal"] == pytest.approx(env.temps[-1][1])
    # the source it came through (#16) beside the network server kind
    assert (d["source_name"], d["source"]) == ("tts-umwelt", "tts")

    bad = env.client.get(f"{V1}/devices/{BAD_EUI}").json()
    assert bad["status"] == "decode_error"
    assert bad["source_name"] is None  # none recorded: one broker, or not heard since
    assert "11 bytes" in bad["decode_error"] and "got 7" in bad["decode_error"]


def test_unknown_device_is_404_naming_the_key(env: Env) -> None:
    for path in ("", "/uplinks", "/latest", "/readings?quantity=temperature"):
        r = env.client.get(f"{V1}/devices/FFFFFFFFFFFFFFFF{path}")
        assert r.status_code == 404, path
        assert "FFFFFFFFFFFFFFFF" in r.json()["detail"]


def test_uplink_journal(env: Env) -> None:
    r = env.client.get(f"{V1}/devices/{OK_EUI}/uplinks", params={"limit": 5})
    assert r.status_code == 200
    ups = r.json()["data"]
    assert len(ups) == 5
    assert [u["f_cnt"] for u in ups] == [24, 22, 21, 19, 18]  # newest first
    assert [u["fcnt_gap"] for u in ups[:4]] == [1, 0, 1, 0]
    assert ups[0]["gateways"] == [{"gateway_id": "gw-townhall", "rssi": -97.0, "snr": 7.5}]
    assert ups[0]["decoded"]["BatV"] == pytest.approx(3.062)
    assert ups[0]["payload_size"] == 11

    bad = env.client.get(f"{V1}/devices/{BAD_EUI}/uplinks").json()["data"]
    assert bad[0]["status"] == "error" and bad[0]["payload_hex"] == LHT65_BAD.hex()
    assert "11 bytes" in bad[0]["error"] and bad[0]["decoded"] is None


def test_validation_422_names_the_parameter(env: Env) -> None:
    c = env.client
    r = c.get(f"{V1}/devices", params={"limit": 0})
    assert r.status_code == 422
    assert "'limit'" in r.json()["detail"] and r.json()["errors"][0]["parameter"] == "limit"
    r = c.get(f"{V1}/devices/{OK_EUI}/readings", params={"quantity": "temprature"})
    assert r.status_code == 422 and "'quantity'" in r.json()["detail"]
    r = c.get(
        f"{V1}/devices/{OK_EUI}/readings",
        params={"quantity": "temperature"} | {"interval": "5 parsecs"},
    )
    assert r.status_code == 422 and "'interval'" in r.json()["detail"]
    r = c.get(
        f"{V1}/devices/{OK_EUI}/readings",
        params={
            "quantity": "temperature",
            "start": "2025-05-02T00:00:00Z",
            "end": "2025-05-01T00:00:00Z",
        },
    )
    assert r.status_code == 422 and "'start'" in r.json()["detail"]
    r = c.post(f"{V1}/decode", json={"model": "dragino/lht65", "f_port": 2, "hex": "zz"})
    assert r.status_code == 422 and "'hex'" in r.json()["detail"]


# --- readings (both stores) ---------------------------------------------------------------


def test_readings_raw(env_any_store: Env) -> None:
    env = env_any_store
    r = env.client.get(
        f"{V1}/devices/{OK_EUI}/readings",
        params={"quantity": "temperature", "start": (NOW - timedelta(hours=3)).isoformat()},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unit"] == "°C" and body["aggregate"] is None
    by_sensor = {s["sensor"]: s for s in body["data"]}
    assert set(by_sensor) == {"internal", "probe"}
    got = [p["value"] for p in by_sensor["internal"]["points"]]
    assert got == pytest.approx([v for _, v in env.temps])
    assert body["count"] == 2 * len(env.temps)


def test_readings_downsampled(env_any_store: Env) -> None:
    env = env_any_store
    start = NOW - timedelta(hours=2)
    params = {"quantity": "temperature", "start": start.isoformat(), "end": NOW.isoformat()}
    for agg, fn in (("mean", statistics.fmean), ("min", min), ("max", max)):
        r = env.client.get(
            f"{V1}/devices/{OK_EUI}/readings", params=params | {"interval": "1h", "aggregate": agg}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["interval_s"] == 3600 and body["aggregate"] == agg
        internal = next(s for s in body["data"] if s["sensor"] == "internal")
        expected = []
        for h in range(2):
            lo, hi = start + timedelta(hours=h), start + timedelta(hours=h + 1)
            vals = [v for t, v in env.temps if lo <= t < hi]
            if vals:
                expected.append(fn(vals))
        assert [p["value"] for p in internal["points"]] == pytest.approx(expected)


def test_means_without_binary_noise(env_any_store: Env) -> None:
    """#14: a mean of 0.1 and 0.2 is 0.15 in the API, not 0.15000000000000002."""
    env = env_any_store
    assert (0.1 + 0.2) / 2 != 0.15  # the noise this is about
    t0 = NOW - timedelta(minutes=50)
    tags = {"device": "lht65-ok", "dev_eui": OK_EUI, "application": "city", "model": "x"}
    env.store.write(
        [
            Point(measurement="pm2_5", tags=tags, fields={"value": v}, time_ns=ns)
            for v, ns in (
                (0.1, int(t0.timestamp()) * 10**9),
                (0.2, int(NOW.timestamp()) * 10**9 - 10**9),
            )
        ]
    )
    r = env.client.get(
        f"{V1}/devices/{OK_EUI}/readings",
        params={
            "quantity": "pm2_5",
            "start": (NOW - timedelta(hours=1)).isoformat(),
            "end": NOW.isoformat(),
            "interval": "1h",
        },
    )
    assert r.status_code == 200, r.text
    assert [p["value"] for s in r.json()["data"] for p in s["points"]] == [0.15]


def test_readings_range_excludes_outside(env_any_store: Env) -> None:
    env = env_any_store
    t0 = env.temps[3][0]
    r = env.client.get(
        f"{V1}/devices/{OK_EUI}/readings",
        params={
            "quantity": "temperature",
            "start": t0.isoformat(),
            "end": (t0 + timedelta(minutes=20)).isoformat(),
        },
    )
    internal = next(s for s in r.json()["data"] if s["sensor"] == "internal")
    assert [p["value"] for p in internal["points"]] == pytest.approx(
        [env.temps[3][1], env.temps[4][1]]
    )


def test_latest(env: Env) -> None:
    one = env.client.get(f"{V1}/devices/{OK_EUI}/latest").json()
    assert one["device"] == OK_EUI
    vals = {(r["quantity"], r["sensor"]): (r["value"], r["unit"]) for r in one["readings"]}
    assert vals[("battery_voltage", "")] == (pytest.approx(3.062), "V")
    every = env.client.get(f"{V1}/readings/latest").json()
    assert every["total"] == 6
    by = {d["device"]: d for d in every["data"]}
    assert by[NEVER_EUI]["readings"] == [] and by[NEVER_EUI]["time"] is None
    assert by[OK_EUI]["readings"] == one["readings"]
    env_only = env.client.get(f"{V1}/readings/latest", params={"category": "traffic"}).json()
    assert [d["device"] for d in env_only["data"]] == [SILENT_EUI, NEVER_EUI]


def test_quantities_catalogue(env: Env) -> None:
    from decoders.quantities import CATALOGUE

    body = env.client.get(f"{V1}/quantities").json()
    assert body["count"] == len(CATALOGUE)
    q = {x["name"]: x for x in body["data"]}
    assert q["temperature"]["unit"] == "°C" and q["temperature"]["senml_unit"] == "Cel"
    assert q["relative_humidity"]["min"] == 0 and q["relative_humidity"]["max"] == 100


# --- decode tool --------------------------------------------------------------------------


def test_decode_tool(env: Env) -> None:
    c = env.client
    r = c.post(
        f"{V1}/decode",
        json={"model": "dragino/lht65", "f_port": 2, "hex": "CB F6 0B 0D 03 76 01 0A DD 7F FF"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["decoded"]["TempC_SHT"] == pytest.approx(28.29)
    assert {"quantity": "temperature", "sensor": "probe", "value": 27.81, "unit": "°C"} in body[
        "readings"
    ]
    r = c.post(f"{V1}/decode", json={"model": "dragino/lht65", "f_port": 2, "hex": LHT65_BAD.hex()})
    body = r.json()
    assert r.status_code == 200 and body["ok"] is False
    assert body["error_type"] == "payload_length" and "11 bytes" in body["error"]
    r = c.post(f"{V1}/decode", json={"model": "dragino/lht66", "f_port": 2, "hex": "00"})
    body = r.json()
    assert body["ok"] is False and body["error_type"] == "unknown_model"
    assert "dragino/lht65" in body["closest_models"]


# --- keys, edits, import -------------------------------------------------------------------


def test_patch_needs_key_and_edits(env: Env) -> None:
    c = env.client
    patch = {"name": "Town hall, north side", "expected_interval_s": 600, "latitude": 47.1}
    r = c.patch(f"{V1}/devices/{OK_EUI}", json=patch)
    assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]
    r = c.patch(f"{V1}/devices/{OK_EUI}", json=patch, headers={"X-API-Key": "wrong"})
    assert r.status_code == 401
    r = c.patch(f"{V1}/devices/{OK_EUI}", json=patch, headers={"X-API-Key": API_KEY})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Town hall, north side" and r.json()["site"] == "town-hall"
    assert env.registry.get_device(OK_EUI).meta.expected_interval_s == 600  # type: ignore[union-attr]
    r = c.patch(f"{V1}/devices/{OK_EUI}", json={"latitude": 123}, headers={"X-API-Key": API_KEY})
    assert r.status_code == 422 and "latitude" in r.json()["detail"]
    r = c.patch(
        f"{V1}/devices/0000000000000042", json={"name": "x"}, headers={"X-API-Key": API_KEY}
    )
    assert r.status_code == 404 and "0000000000000042" in r.json()["detail"]
    r = c.patch(
        f"{V1}/devices/0000000000000042",
        params={"create": "true"},
        json={"name": "pre-registered"},
        headers={"X-API-Key": API_KEY},
    )
    assert r.status_code == 200 and r.json()["status"] == "never_seen"


@pytest.fixture
def keyed_env(registry: SqlRegistry, sqlite_store: SqliteStore) -> Iterator[Env]:
    yield from build_env(registry, sqlite_store, make_settings(read_access="key"))


def test_read_access_key(keyed_env: Env) -> None:
    c = keyed_env.client
    assert c.get(f"{V1}/devices").status_code == 401
    assert c.get(f"{V1}/devices", headers={"X-API-Key": "nope"}).status_code == 401
    assert c.get(f"{V1}/devices", headers={"X-API-Key": API_KEY}).status_code == 200
    # probes and metrics stay open for the orchestrator and Prometheus
    assert c.get(f"{V1}/health/live").status_code == 200
    assert c.get("/metrics").status_code == 200


def test_keys_are_kept_hashed(env: Env) -> None:
    ring = env.app.state.keyring
    assert len(ring.digests) == 1 and API_KEY.encode() not in ring.digests
    assert ring.check(API_KEY) and not ring.check(API_KEY + "x") and not ring.check(None)


def test_edits_disabled_without_keys(registry: SqlRegistry, sqlite_store: SqliteStore) -> None:
    env = next(build_env(registry, sqlite_store, make_settings(api_keys=[])))
    r = env.client.patch(f"{V1}/devices/{OK_EUI}", json={"name": "x"}, headers={"X-API-Key": ""})
    assert r.status_code == 401 and "no API keys configured" in r.json()["detail"]


# --- metrics ------------------------------------------------------------------------------


def test_metrics(env: Env) -> None:
    MESSAGES.labels(outcome="rejected", reason="decode_error", source="mqtt").inc()
    DECODE_ERRORS.labels(model="dragino/lht65").inc()
    r = env.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    line = next(
        x
        for x in text.splitlines()
        if x.startswith('lorawan_decode_errors_total{model="dragino/lht65"}')
    )
    assert float(line.split()[-1]) >= 1
    for name in (
        "lorawan_messages_total",
        "lorawan_write_batches_total",
        "lorawan_buffer_points",
        "lorawan_write_latency_seconds",
    ):
        assert name in text


# --- installer page -------------------------------------------------------------------------


def test_installer_page_served(env: Env) -> None:
    r = env.client.get("/installer")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert 'src="/installer/installer.js"' in r.text and "http" not in r.text.split("<body>")[1]
    js = env.client.get("/installer/installer.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert env.client.get("/installer/installer.css").status_code == 200
    assert env.client.get("/installer/../main.py").status_code == 404


def test_openapi_operation_ids_stable(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    ids = {op["operationId"] for p in spec["paths"].values() for op in p.values()}
    assert {
        "health_live",
        "health_ready",
        "list_devices",
        "get_device",
        "update_device",
        "import_devices",
        "list_device_uplinks",
        "get_device_readings",
        "get_device_latest",
        "list_latest_readings",
        "list_quantities",
        "decode_payload",
        "metrics",
    } <= ids


def test_import_devices_file(env: Env) -> None:
    c = env.client
    yaml_text = (
        "devices:\n"
        f"  - dev_eui: {OK_EUI.lower()}\n    name: Town hall (imported)\n    site: town-hall\n"
        "  - dev_eui: 0000000000000099\n    name: New counter\n    category: traffic\n"
        "    model: nwave/ncc405\n    expected_interval: 15m\n"
    )
    body = {"format": "yaml", "content": yaml_text}
    assert c.post(f"{V1}/devices/import", json=body).status_code == 401
    r = c.post(f"{V1}/devices/import", json=body, headers={"X-API-Key": API_KEY})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "imported": 2,
        "created": 1,
        "updated": 1,
        "devices": [OK_EUI, "0000000000000099"],
    }
    new = c.get(f"{V1}/devices/0000000000000099").json()
    assert new["status"] == "never_seen" and new["expected_interval_s"] == 900
    assert c.get(f"{V1}/devices/{OK_EUI}").json()["name"] == "Town hall (imported)"

    csv_text = "dev_eui,name,category\n0000000000000098,CSV device,tourism\n"
    r = c.post(
        f"{V1}/devices/import",
        json={"format": "csv", "content": csv_text},
        headers={"X-API-Key": API_KEY},
    )
    assert r.status_code == 200 and r.json()["created"] == 1
    assert c.get(f"{V1}/devices", params={"category": "tourism"}).json()["total"] == 1

    bad = "dev_eui,name\nnot-an-eui,x\n"
    r = c.post(
        f"{V1}/devices/import",
        json={"format": "csv", "content": bad},
        headers={"X-API-Key": API_KEY},
    )
    assert r.status_code == 422 and "'content'" in r.json()["detail"]
    assert "line 2" in r.json()["detail"] or "dev_eui" in r.json()["detail"]
    # found by schemathesis: control characters made the YAML reader fail before parsing
    r = c.post(
        f"{V1}/devices/import",
        json={"format": "yaml", "content": "\x1f"},
        headers={"X-API-Key": API_KEY},
    )
    assert r.status_code == 422 and "'content'" in r.json()["detail"]


def test_device_without_dev_eui_is_addressable_by_its_key(env: Env) -> None:
    """A TTS device without a DevEUI has the key ``tts:<app>/<device>``; every device route
    takes it, written as it is or URL-encoded as the installer page sends it."""
    key = "tts:city/abp-counter"
    env.registry.record_uplinks(
        [
            UplinkRecord(
                device_key=key,
                dev_eui=None,
                device_id="abp-counter",
                application="city",
                source="tts",
                received_at=NOW - timedelta(minutes=2),
                f_port=2,
                f_cnt=5,
                payload=b"\x01",
                model_id=None,
                decoder=None,
                status="no_decoder",
                uplink_id="abp-5",
            )
        ]
    )
    c = env.client
    for spelled in (key, quote(key, safe="")):
        d = c.get(f"{V1}/devices/{spelled}")
        assert d.status_code == 200, (spelled, d.text)
        assert d.json()["key"] == key and d.json()["dev_eui"] is None
        ups = c.get(f"{V1}/devices/{spelled}/uplinks").json()
        assert ups["device"] == key and [u["f_cnt"] for u in ups["data"]] == [5]
        assert c.get(f"{V1}/devices/{spelled}/latest").status_code == 200
        r = c.get(f"{V1}/devices/{spelled}/readings", params={"quantity": "temperature"})
        assert r.status_code == 200, r.text
    r = c.patch(
        f"{V1}/devices/{key}", json={"name": "Beach counter"}, headers={"X-API-Key": API_KEY}
    )
    assert r.status_code == 200 and r.json()["name"] == "Beach counter"
    missing = c.get(f"{V1}/devices/tts:city/nope/uplinks")
    assert missing.status_code == 404 and "tts:city/nope" in missing.json()["detail"]
