"""Cost of the SensorThings API (#18) with N public devices (default 1,000).

The registry is filled by the real ingest (simulated TTS / ChirpStack uplinks, three per
device), every device is marked public, and one Datastream gets 30 days of readings at a
10-minute interval (4,320 points) written to the store. Then, through the ASGI app:

* ``Things?$filter=…``: a filter over all Things (registry read + filter);
* ``Datastreams(id)/Observations``: a 100-point page of the 30 days, newest first, with a
  time-window ``$filter`` and ``$count`` (one store query for the page, one for the count);
* the same with ``$resultFormat=dataArray``.

Each request runs ``--rounds`` times; the median and the spread (min–max) are printed.

    .venv/bin/python bench/sensorthings.py [--devices 1000] [--store sqlite|influx] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402

from api.main import create_app  # noqa: E402
from ingest.models import RawMessage  # noqa: E402
from ingest.service import IngestService  # noqa: E402
from lorawan_monitor.health import ServiceState  # noqa: E402
from lorawan_monitor.settings import load_settings  # noqa: E402
from simulator.fleet import default_fleet, generate  # noqa: E402
from storage.base import (  # noqa: E402
    Point,
    TimeSeriesStore,
    to_ns,  # noqa: E402
)
from storage.influx import InfluxStore  # noqa: E402
from storage.registry import SqlRegistry  # noqa: E402
from storage.registry_base import DeviceMeta  # noqa: E402
from storage.sqlite import SqliteStore  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--store", choices=("sqlite", "influx"), default="sqlite")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lm-sta-bench-") as d:
        tmp = Path(d)
        if args.store == "influx":
            from tests.servers import running_influxd

            with running_influxd() as influxd:
                influxd.create_database("bench")
                store: TimeSeriesStore = InfluxStore(
                    load_settings(influx={"url": influxd.url, "database": "bench"}).influx
                )
                return run(tmp, store, args)
        return run(tmp, SqliteStore(tmp / "ts.db"), args)


def run(tmp: Path, store: TimeSeriesStore, args: argparse.Namespace) -> int:
    registry = SqlRegistry(f"sqlite:///{tmp / 'registry.db'}")
    fleet = default_fleet(args.devices, networks=("tts", "chirpstack"))
    t0 = time.perf_counter()
    service = IngestService(
        load_settings(storage={"data_dir": str(tmp / "ingest")}), store=store, registry=registry
    )
    service.start(mqtt=False)
    for m in generate(fleet, count=3 * len(fleet), seed=1):
        service.feed(RawMessage(topic=m.topic, payload=m.payload))
    assert service.wait_idle(600)
    service.stop()
    for i, dev in enumerate(fleet):
        registry.update_meta(
            dev.dev_eui,
            DeviceMeta(
                public=True,
                site="Wyk" if i % 3 else "Amrum",
                latitude=54.6 + (i % 100) * 0.001,
                longitude=8.3 + (i // 100) * 0.01,
            ),
        )
    app = create_app(load_settings(), store=store, registry=registry, state=ServiceState())
    client = TestClient(app)
    first = fleet[0].dev_eui.upper()
    ds = client.get(f"/sta/v1.1/Things('{first}')/Datastreams").json()["value"][0]
    quantity = ds["properties"]["quantity"]
    sensor = ds["properties"].get("sensor", "")
    end = datetime(2026, 11, 30, tzinfo=UTC)
    start = end - timedelta(days=30)
    tags = {"dev_eui": first, "sensor": sensor, "device": "bench"}
    points = [
        Point(
            measurement=quantity,
            tags=tags,
            fields={"value": 10.0 + (k % 50) / 10},
            time_ns=to_ns(start + timedelta(minutes=10 * k)),
        )
        for k in range(30 * 144)
    ]
    store.write(points)
    print(
        f"setup: {args.devices} public devices, {3 * args.devices} uplinks ingested, "
        f"{len(points)} points in one Datastream ({args.store}), {time.perf_counter() - t0:.1f} s"
    )
    win = (
        f"phenomenonTime ge {start.isoformat()[:19]}Z and phenomenonTime lt {end.isoformat()[:19]}Z"
    )
    requests = {
        "Things $filter over all Things": (
            "/sta/v1.1/Things",
            {"$filter": "properties/site eq 'Wyk' and startswith(name, 'sim')", "$count": "true"},
        ),
        "Things st_within polygon": (
            "/sta/v1.1/Things",
            {
                "$filter": "st_within(Locations/location, geography'POLYGON((8.29 54.59, 8.8 54.59,"
                " 8.8 54.65, 8.29 54.65, 8.29 54.59))')",
                "$top": "1000",
            },
        ),
        "Observations page, 30 days, newest 100": (
            f"/sta/v1.1/Datastreams('{ds['@iot.id']}')/Observations",
            {"$filter": win, "$orderby": "phenomenonTime desc", "$top": "100", "$count": "true"},
        ),
        "Observations dataArray, 30 days, 1000": (
            f"/sta/v1.1/Datastreams('{ds['@iot.id']}')/Observations",
            {"$filter": win, "$resultFormat": "dataArray", "$top": "1000"},
        ),
    }
    for name, (url, params) in requests.items():
        times = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            r = client.get(url, params=params)
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, r.text
        body = r.json()
        n = body.get("@iot.count", len(body.get("value", [])))
        print(
            f"{name:42s} median {statistics.median(times):7.1f} ms "
            f"(min {min(times):.1f}, max {max(times):.1f}; {args.rounds} rounds; n={n})"
        )
    registry.close()
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
