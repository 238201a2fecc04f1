"""``retag`` on a real influxd: points written before a devices-file change get the
registry's current name and site; nothing is lost or doubled; other devices are untouched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dashboards.retag import InfluxV1, Wanted, retag
from ingest.models import RawMessage
from ingest.pipeline import Pipeline
from simulator import encoders, envelopes
from storage.registry_base import DeviceMeta
from tests.servers import Influxd

pytestmark = pytest.mark.integration

EUI_A, EUI_B = "A84041000181AAAA", "A84041000181BBBB"


def _uplink(device: str, eui: str, f_cnt: int, at: datetime) -> RawMessage:
    topic, body = envelopes.tts_uplink(
        application="city",
        device_id=device,
        dev_eui=eui,
        f_port=2,
        f_cnt=f_cnt,
        payload=encoders.lht65(temperature=20.0 + f_cnt, humidity=50.0, battery_v=3.0),
        received_at=at,
        model_id="dragino/lht65",
    )
    return RawMessage(topic=topic, payload=body)


@pytest.fixture
def db(influxd: Influxd, influx_db: str) -> Iterator[InfluxV1]:
    """Two devices, 20 uplinks each, written while the registry knew no name and an old site;
    one string-field point (an alert) for device A."""
    metas = {
        EUI_A.lower(): DeviceMeta(site="Alter Hafen"),
        EUI_B.lower(): DeviceMeta(site="Nebel", name="Klima Nebel"),
    }
    pipeline = Pipeline(meta_lookup=lambda eui: metas.get(eui.lower()))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    lines: list[str] = []
    for device, eui in (("lht-a", EUI_A), ("lht-b", EUI_B)):
        for i in range(20):
            r = pipeline.process(_uplink(device, eui, i + 1, start + timedelta(minutes=10 * i)))
            assert r.outcome == "stored", r
            lines += r.points
    ts = int(start.timestamp()) * 10**9
    lines.append(
        f"lorawan_alert,dev_eui={EUI_A},device=lht-a,rule=battery_low,site=Alter\\ Hafen "
        f'state="firing",firing=1.0 {ts}'
    )
    r = httpx.post(f"{influxd.url}/write", params={"db": influx_db}, content="\n".join(lines))
    assert r.status_code == 204, r.text
    with httpx.Client(base_url=influxd.url, timeout=30) as client:
        yield InfluxV1(client, influx_db)


def _by_series(db: InfluxV1, measurement: str) -> dict[tuple[str, str, str], list[Any]]:
    out = {}
    for s in db.query(f'SELECT * FROM "{measurement}" GROUP BY "dev_eui", "name", "site"'):
        t = s["tags"]
        out[(t["dev_eui"], t["name"], t["site"])] = s["values"]
    return out


def test_retag_rewrites_old_points_with_the_registry_name_and_site(db: InfluxV1) -> None:
    before = _by_series(db, "temperature")
    before_uplinks = _by_series(db, "lorawan_uplink")
    assert set(before) == {(EUI_A, "lht-a", "Alter Hafen"), (EUI_B, "Klima Nebel", "Nebel")}

    wanted = [
        Wanted(dev_eui=EUI_A, name="Pegel Hafen", site="Wyk Hafen"),
        Wanted(dev_eui=EUI_B, name="Klima Nebel", site="Nebel"),
    ]
    summary = retag(db, wanted)
    assert summary.devices == 2
    assert summary.changed.get("temperature") and "relative_humidity" in summary.changed

    after = _by_series(db, "temperature")
    assert set(after) == {(EUI_A, "Pegel Hafen", "Wyk Hafen"), (EUI_B, "Klima Nebel", "Nebel")}
    assert after[(EUI_A, "Pegel Hafen", "Wyk Hafen")] == before[(EUI_A, "lht-a", "Alter Hafen")]
    assert after[(EUI_B, "Klima Nebel", "Nebel")] == before[(EUI_B, "Klima Nebel", "Nebel")]
    uplinks = _by_series(db, "lorawan_uplink")
    assert sum(len(v) for v in uplinks.values()) == sum(len(v) for v in before_uplinks.values())
    # the internal and probe temperature of the LHT65 stay apart (tag sensor kept)
    sensors = db.query(
        f'SHOW TAG VALUES FROM "temperature" WITH KEY = "sensor" WHERE "dev_eui" = \'{EUI_A}\''
    )
    assert len(sensors[0]["values"]) >= 1
    # a string field survives with its type
    [alert] = db.query('SELECT "state", "firing", "name", "site" FROM "lorawan_alert"')
    assert alert["values"][0][1:] == ["firing", 1.0, "Pegel Hafen", "Wyk Hafen"]

    again = retag(db, wanted)
    assert again.changed == {} and again.points == 0
    assert _by_series(db, "temperature") == after


def test_retag_of_a_name_only_keeps_the_rewritten_points(influxd: Influxd, influx_db: str) -> None:
    """The measurement never had a name tag and the site stays: the old series must be
    dropped by its exact tag set, not the new one with it."""
    ts = 1_700_000_000 * 10**9
    body = "\n".join(
        f'lorawan_alert,dev_eui={EUI_A},device=lht-a,rule=r{i},site=Hafen state="ok",firing=0.0 '
        f"{ts + i}"
        for i in range(3)
    )
    assert (
        httpx.post(f"{influxd.url}/write", params={"db": influx_db}, content=body).status_code
        == 204
    )
    with httpx.Client(base_url=influxd.url, timeout=30) as client:
        db = InfluxV1(client, influx_db)
        summary = retag(db, [Wanted(dev_eui=EUI_A, name="Pegel", site="Hafen")])
        assert summary.changed == {"lorawan_alert": 3}
        rows = db.query('SELECT "state", "name" FROM "lorawan_alert"')[0]["values"]
        assert [r[1:] for r in rows] == [["ok", "Pegel"]] * 3


def test_retag_of_an_unknown_device_changes_nothing(db: InfluxV1) -> None:
    before = _by_series(db, "lorawan_uplink")
    summary = retag(db, [Wanted(dev_eui="0000000000000000", name="x", site="y")])
    assert summary.series == 0
    assert _by_series(db, "lorawan_uplink") == before


def test_retag_without_influxdb_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from lorawan_monitor.cli import main

    monkeypatch.delenv("LORAWAN_INFLUX__URL", raising=False)
    monkeypatch.setenv("LORAWAN_STORAGE__DATA_DIR", str(tmp_path))
    assert main(["retag"]) == 2
    assert "LORAWAN_INFLUX__URL" in capsys.readouterr().err
