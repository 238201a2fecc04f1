"""``lorawan-monitor demo`` as a user runs it: a subprocess with its embedded broker,
simulator, ingest, SQLite stores and API; the API must show healthy devices and
devices with decode errors, and the process must end cleanly after --duration."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.servers import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_demo_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lorawan_monitor.cli",
            "demo",
            "--duration",
            "20",
            "--port",
            str(port),
            "--every",
            "2",
            "--history",
            "2",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    statuses: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 18
        with httpx.Client(base_url=base, timeout=2) as c:
            while time.monotonic() < deadline:
                try:
                    body = c.get("/api/v1/devices", params={"limit": 500}).json()
                    statuses = {d["key"]: d["status"] for d in body["data"]}
                    # the silent device's history may land in a later registry batch
                    # than the live devices' uplinks: wait for its "overdue" too
                    if {"ok", "decode_error", "overdue"} <= set(statuses.values()) and all(
                        d["uplink_count"] >= 2 for d in body["data"] if d["status"] == "ok"
                    ):
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.5)
            assert "decode_error" in statuses.values(), statuses
            assert list(statuses.values()).count("ok") >= 10, statuses
            assert "never_seen" in statuses.values() and "overdue" in statuses.values()
            bad = next(k for k, s in statuses.items() if s == "decode_error")
            detail = c.get(f"/api/v1/devices/{bad}").json()
            assert "bytes" in detail["decode_error"]
            assert c.get("/installer").status_code == 200
            ready = c.get("/api/v1/health/ready").json()
            assert ready["mqtt_connected"] is True and ready["ready"] is True
            # the demo reads two sources on its broker (#16)
            assert {(x["name"], x["up"]) for x in ready["sources"]} == {
                ("tts-umwelt", True),
                ("chirpstack-stadtwerke", True),
            }
            assert "lorawan_messages_total" in c.get("/metrics").text
            # the healthy devices are public: the OpenData export has stations and rows (#14)
            today = datetime.now(ZoneInfo("Europe/Berlin")).date()
            span = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
            csv_rows = c.get("/api/v1/opendata/data.csv", params={**span, "interval": "1h"})
            assert csv_rows.status_code == 200, csv_rows.text
            assert len(csv_rows.text.splitlines()) > 10, csv_rows.text
            geo = c.get("/api/v1/opendata/stations.geojson").json()
            assert len(geo["features"]) >= 10
            assert bad not in {f["id"] for f in geo["features"]}  # broken ones stay private
            # the same public devices on the SensorThings API, with their readings (#18)
            things = c.get("/sta/v1.1/Things", params={"$count": "true", "$top": "1000"}).json()
            assert things["@iot.count"] == len(geo["features"])
            assert {t["@iot.id"] for t in things["value"]} == {f["id"] for f in geo["features"]}
            ds = c.get(f"/sta/v1.1/Things('{things['value'][0]['@iot.id']}')/Datastreams").json()
            obs = c.get(ds["value"][0]["Observations@iot.navigationLink"]).json()
            assert obs["value"] and isinstance(obs["value"][0]["result"], float)
            # the demo's alert rules (#17): the silent device and the broken ones fire
            firing: set[str] = set()
            while (
                time.monotonic() < deadline + 6
                and not {
                    "sensor-stumm",
                    "nicht-dekodierbar",
                }
                <= firing
            ):
                alerts = c.get("/api/v1/alerts").json()["alerts"]
                firing = {a["rule"] for a in alerts if a["state"] == "firing"}
                time.sleep(0.5)
            assert {"sensor-stumm", "nicht-dekodierbar"} <= firing, alerts
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    text = out.decode()
    assert f"http://localhost:{port}/installer" in text and "API key" in text
    assert f"http://localhost:{port}/api/v1/alerts" in text
    assert (tmp_path / "data" / "registry.db").is_file()  # --data-dir keeps the data
    # the demo's own lines are not buried under the embedded broker's logging (#14)
    noisy = [ln for ln in err.decode().splitlines() if " INFO amqtt" in ln or "transitions" in ln]
    assert not noisy and " INFO alembic" not in err.decode(), noisy[:5]
