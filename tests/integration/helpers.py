"""Helpers for end-to-end tests: run an IngestService against the fixture servers and
compare InfluxDB's contents with what the simulator published."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lorawan_monitor.settings import Settings, load_settings
from simulator.fleet import SimMessage
from tests.servers import Influxd

Key = tuple[str, str, str, int]  # quantity, device, sensor, time_ns


def settings_for(
    mqtt_port: int, influx_url: str | None, db: str, data_dir: Path, **extra: Any
) -> Settings:
    return load_settings(
        mqtt={
            "host": "127.0.0.1",
            "port": mqtt_port,
            "client_id": "test-" + uuid.uuid4().hex[:8],
            "qos": 1,
            **extra.pop("mqtt", {}),
        },
        influx={
            "url": influx_url,
            "database": db,
            "batch_size": 5000,
            "flush_interval": 0.2,
            **extra.pop("influx", {}),
        },
        storage={"data_dir": str(data_dir), **extra.pop("storage", {})},
        **extra,
    )


def expected_points(messages: Iterable[SimMessage]) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for m in messages:
        for e in m.expected:
            out[(e.quantity, m.device, e.sensor, e.time_ns)] = e.value
    return out


def influx_points(influxd: Influxd, db: str, quantities: Iterable[str]) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for q in sorted(set(quantities)):
        res = influxd.query(f'SELECT "value" FROM "{q}" GROUP BY "device", "sensor"', db=db)
        for s in res["results"][0].get("series", []):
            tags = s.get("tags") or {}
            for t, v in s["values"]:
                out[(q, tags.get("device", ""), tags.get("sensor", ""), int(t))] = float(v)
    return out


def count_points(influxd: Influxd, db: str, measurement: str, field: str = "value") -> int:
    res = influxd.query(f'SELECT count("{field}") FROM "{measurement}"', db=db)
    series = res["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def diff(expected: dict[Key, float], got: dict[Key, float]) -> dict[str, Any]:
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    wrong = [
        (k, expected[k], got[k])
        for k in expected
        if k in got and abs(expected[k] - got[k]) > 1e-9 * max(1.0, abs(expected[k]))
    ]
    by_q: dict[str, int] = defaultdict(int)
    for k in missing:
        by_q[k[0]] += 1
    return {
        "missing": len(missing),
        "missing_by_quantity": dict(by_q),
        "extra": len(extra),
        "wrong": wrong[:5],
        "n_wrong": len(wrong),
        "sample_missing": missing[:3],
        "sample_extra": extra[:3],
    }
