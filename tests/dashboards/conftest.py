"""Test data for the dashboard queries: a small city written as line protocol to real influxd.

Follows the schema in ARCHITECTURE.md (measurement = quantity, field ``value``; one
``lorawan_uplink`` point per uplink; ``device_location`` per device). Deterministic:
a seeded RNG, hourly uplinks over the last 72 hours.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from dashboards.influxql import ROLLUP, UPLINK
from dashboards.retag import InfluxV1
from dashboards.rollup import rollup
from decoders.quantities import CATALOGUE, Quantity
from tests.servers import Influxd

Q = Quantity
HOURS = 72


@dataclass(frozen=True, kw_only=True)
class Dev:
    device: str
    application: str
    model: str
    category: str
    site: str  # "" = tag absent
    quantities: tuple[Quantity, ...]
    sensors: tuple[str, ...] = ("",)
    decode_errors_every: int = 0
    #: registry name; "" = none in the registry, so the pipeline writes the device id
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.device

    def tags(self) -> dict[str, str]:
        t = {
            "device": self.device,
            "name": self.name,
            "dev_eui": hashlib.sha1(self.device.encode()).hexdigest()[:16].upper(),
            "application": self.application,
            "model": self.model,
            "category": self.category,
        }
        if self.site:
            t["site"] = self.site
        return t


ENV, TOUR, TRAF = "environment", "tourism", "traffic"
DEVICES: tuple[Dev, ...] = (
    Dev(
        device="env-marktplatz-1",
        label="Klima Marktplatz",
        application="umwelt",
        model="dragino/lht65n",
        category=ENV,
        site="Marktplatz",
        quantities=(Q.TEMPERATURE, Q.RELATIVE_HUMIDITY, Q.BATTERY_VOLTAGE),
        sensors=("", "probe"),
    ),
    Dev(
        device="env-st-georg-co2",
        label="CO₂ Schule St. Georg",
        application="umwelt",
        model="milesight/am103",
        category=ENV,
        site="St. Georg",
        quantities=(Q.TEMPERATURE, Q.RELATIVE_HUMIDITY, Q.CO2, Q.BATTERY),
        decode_errors_every=9,
    ),
    Dev(
        device="env-no-site",
        application="umwelt",
        model="dragino/lht65n",
        category=ENV,
        site="",
        quantities=(Q.TEMPERATURE,),
    ),
    Dev(
        device="water-hafen",
        label="Pegel Hafen",
        application="wasser",
        model="dragino/ldds75",
        category=ENV,
        site="Hafen",
        quantities=(Q.DISTANCE, Q.WATER_LEVEL, Q.BATTERY_VOLTAGE),
    ),
    Dev(
        device="weather-rathaus",
        label="Wetterstation Rathaus",
        application="umwelt",
        model="decentlab/dl-atm41",
        category=ENV,
        site="Rathaus",
        quantities=(
            Q.WIND_SPEED,
            Q.WIND_GUST,
            Q.WIND_DIRECTION,
            Q.PRECIPITATION,
            Q.ATMOSPHERIC_PRESSURE,
            Q.TEMPERATURE,
            Q.RELATIVE_HUMIDITY,
        ),
    ),
    Dev(
        device="counter-strand",
        label="Zähler Strandaufgang",
        application="besucher",
        model="milesight/vs133",
        category=TOUR,
        site="Strand",
        quantities=(Q.PEOPLE_IN, Q.PEOPLE_OUT, Q.BATTERY),
        decode_errors_every=13,
    ),
    Dev(
        device="counter-burg-total",
        application="besucher",
        model="example/counter",
        category=TOUR,
        site="Burg",
        quantities=(Q.PEOPLE_IN_TOTAL, Q.PEOPLE_OUT_TOTAL),
    ),
    *(
        Dev(
            device=f"park-strand-{i}",
            application="parken",
            model="example/parking",
            category=TOUR,
            site="Strand",
            quantities=(Q.OCCUPIED, Q.BATTERY),
        )
        for i in (1, 2, 3)
    ),
    Dev(
        device="traffic-bahnhof",
        label="Radar Bahnhofstraße",
        application="verkehr",
        model="example/radar",
        category=TRAF,
        site="Bahnhofstraße",
        quantities=(Q.VEHICLE_COUNT,),
    ),
    Dev(
        device="traffic-ring-total",
        application="verkehr",
        model="example/radar",
        category=TRAF,
        site="Ring/Nord",
        quantities=(Q.VEHICLE_COUNT_TOTAL,),
    ),
    *(
        Dev(
            device=f"park-bahnhof-{i}",
            application="parken",
            model="example/parking",
            category=TRAF,
            site="Bahnhofstraße",
            quantities=(Q.OCCUPIED,),
        )
        for i in (1, 2)
    ),
)


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace(" ", "\\ ").replace(",", "\\,").replace("=", "\\=")


def _line(measurement: str, tags: dict[str, str], fields: dict[str, float], ts: int) -> str:
    tag_text = ",".join(f"{k}={_esc(v)}" for k, v in sorted(tags.items()) if v)
    field_text = ",".join(f"{k}={v!r}" for k, v in sorted(fields.items()))
    return f"{measurement},{tag_text} {field_text} {ts}"


def _value(q: Quantity, rng: random.Random, hour: int, state: dict[str, float]) -> float:
    info = CATALOGUE[q]
    if info.kind == "cumulative_count":
        state[q] = state.get(q, 1000.0) + rng.randint(0, 40)
        if hour == HOURS // 2:
            state[q] = float(rng.randint(0, 5))  # a device restart resets the counter
        return state[q]
    if info.kind == "state":
        return float(rng.random() < 0.6)
    if info.kind == "interval_count":
        return float(rng.randint(0, 60))
    lo = max(info.min, -30.0)
    hi = min(info.max, 1000.0 if info.max > 1000 else info.max)
    return round(rng.uniform(lo, hi), 2)


@dataclass
class CityData:
    lines: list[str] = field(default_factory=list)
    #: (measurement, category) -> devices that wrote it
    writers: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def devices_of(self, measurement: str, category: str | None) -> set[str]:
        return {
            d
            for (m, c), devs in self.writers.items()
            if m == measurement and (category is None or c == category)
            for d in devs
        }


def build_city(now_s: int) -> CityData:
    rng = random.Random(5)
    data = CityData()
    start = (now_s // 3600) * 3600 - HOURS * 3600
    for n, dev in enumerate(DEVICES):
        tags = dev.tags()
        data.lines.append(
            _line(
                "device_location",
                tags,
                {"latitude": 54.32 + n * 0.001, "longitude": 10.13 + n * 0.002},
                start,
            )
        )
        data.writers.setdefault(("device_location", dev.category), set()).add(dev.device)
        state: dict[str, float] = {}
        f_cnt = 0
        for hour in range(HOURS):
            ts = start + hour * 3600 + 60 * n
            gap = 2 if hour % 17 == 5 else 0
            f_cnt += 1 + gap
            error = bool(dev.decode_errors_every and hour % dev.decode_errors_every == 0)
            status = "error" if error else ("lns_decoded" if n % 4 == 3 else "decoded")
            uplink = {
                "rssi": float(rng.randint(-125, -60)),
                "snr": round(rng.uniform(-15, 10), 1),
                "spreading_factor": float(7 + (hour + n) % 6),
                "frequency": 868100000.0 + 200000 * (hour % 3),
                "gateway_count": float(rng.randint(1, 3)),
                "f_cnt": float(f_cnt),
                "f_port": 2.0,
                "payload_size": 11.0,
                "airtime": 0.0616,
                "decode_ok": 0.0 if error else 1.0,
            }
            # the pipeline's radio point tags: the device's, decode_status and the source it
            # came through (#16; two sources here, one value each)
            source = "tts-umwelt" if n % 2 == 0 else "chirpstack-stadtwerke"
            data.lines.append(
                _line(
                    "lorawan_uplink",
                    {**tags, "decode_status": status, "source": source},
                    uplink,
                    ts,
                )
            )
            data.writers.setdefault(("lorawan_uplink", dev.category), set()).add(dev.device)
            if error:
                continue
            for q in dev.quantities:
                for sensor in dev.sensors:
                    qtags = {**tags, "sensor": sensor}
                    value = _value(q, rng, hour, state)
                    data.lines.append(_line(q.value, qtags, {"value": value}, ts))
                    data.writers.setdefault((q.value, dev.category), set()).add(dev.device)
    _alerts(data, start)
    return data


#: (device, rule, severity, hours firing): points of measurement lorawan_alert as the
#: alert evaluator writes them (contract in docs/dashboards.md)
ALERTS = (
    ("env-st-georg-co2", "co2_high", "warning", range(10, 15)),
    ("park-strand-1", "battery_low", "critical", range(60, 72)),
)


def _alerts(data: CityData, start: int) -> None:
    by_name = {d.device: d for d in DEVICES}
    for device, rule, severity, firing in ALERTS:
        dev = by_name[device]
        tags = {
            "rule": rule,
            "severity": severity,
            "device": device,
            "dev_eui": dev.tags()["dev_eui"],
            "site": dev.site,
        }
        tag_text = ",".join(f"{k}={_esc(v)}" for k, v in sorted(tags.items()) if v)
        for hour in range(0, HOURS, 2):
            on = hour in firing
            state = "firing" if on else ("resolved" if hour - 2 in firing else "ok")
            data.lines.append(
                f'lorawan_alert,{tag_text} state="{state}",firing={float(on)!r},value=1.0 '
                f"{start + hour * 3600}"
            )
        data.writers.setdefault(("lorawan_alert", dev.category), set()).add(device)


@dataclass(frozen=True)
class FilledInflux:
    server: Influxd
    db: str
    data: CityData
    now_s: int

    def query(self, q: str) -> dict:  # type: ignore[type-arg]
        r = httpx.get(
            f"{self.server.url}/query",
            params={"db": self.db, "q": q, "epoch": "s"},
            timeout=30,
        )
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def city(influxd: Influxd) -> Iterator[FilledInflux]:
    db = "dash_city"
    influxd.create_database(db)
    now_s = int(time.time())
    data = build_city(now_s)
    r = httpx.post(
        f"{influxd.url}/write",
        params={"db": db, "precision": "s"},
        content="\n".join(data.lines).encode(),
        timeout=60,
    )
    assert r.status_code == 204, r.text
    # the frame-loss panels read the hourly rollup, filled as `dashboards rollup` does
    with httpx.Client(base_url=influxd.url, timeout=60) as client:
        rollup(InfluxV1(client, db), now_s - 80 * 3600, until_s=now_s)
    for (m, cat), devs in list(data.writers.items()):
        if m == UPLINK:
            data.writers[(ROLLUP, cat)] = set(devs)
    yield FilledInflux(influxd, db, data, now_s)
    influxd.drop_database(db)
