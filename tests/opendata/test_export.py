"""Files, metadata, CLI, API and CKAN publishing of a simulated week (real SQLite store and
SqlRegistry; CKAN replaced by an in-process stand-in at its HTTP boundary)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lorawan_monitor import cli
from lorawan_monitor.settings import load_settings
from opendata.config import BORGSUM, OpenDataSettings
from opendata.dcat import dataset_jsonld, validate
from opendata.files import COLUMNS, to_csv, write_export
from opendata.service import build_export
from storage.registry import SqlRegistry
from storage.registry_base import DeviceMeta
from storage.sqlite import SqliteStore
from tests.opendata.ckan_standin import running_ckan
from tests.opendata.conftest import PRIVATE, STATIONS, WEEK, Truth

NOW = datetime(2026, 3, 31, 8, 0, tzinfo=UTC)
ENV_VARS = {
    "LORAWAN_OPENDATA__PUBLISHER_NAME": "Amt Föhr-Amrum",
    "LORAWAN_OPENDATA__CONTACT_EMAIL": "opendata@example.org",
    "LORAWAN_OPENDATA__POLITICAL_GEOCODING_URI": BORGSUM,
    "LORAWAN_OPENDATA__PUBLIC_API_URL": "https://sensors.example.org/api/v1",
}


@dataclass
class World:
    data_dir: Path
    store: SqliteStore
    registry: SqlRegistry
    cfg: OpenDataSettings


@pytest.fixture
def world(tmp_path: Path, week: Truth, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for k, v in ENV_VARS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("LORAWAN_STORAGE__DATA_DIR", str(tmp_path))
    store = SqliteStore(tmp_path / "timeseries.db")
    for i in range(0, len(week.points), 5000):
        store.write(week.points[i : i + 5000])
    registry = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}")
    for s in STATIONS:
        meta = DeviceMeta(name=s.name, category=s.category, site=s.site, latitude=s.latitude,
                          longitude=s.longitude, model_override=s.model,
                          expected_interval_s=s.expected_interval_s, public=True)  # fmt: skip
        registry.update_meta(s.station_id, meta, create=True)
    registry.update_meta(
        PRIVATE,
        DeviceMeta(
            name="Privat",
            category="environment",
            site="harbour",
            latitude=54.0,
            longitude=8.0,
            public=False,
        ),  # fmt: skip
        create=True,
    )
    yield World(tmp_path, store, registry, OpenDataSettings())
    store.close()
    registry.close()


def test_export_files_a_reader_can_use(world: World, tmp_path: Path) -> None:
    export = build_export(world.store, world.registry, world.cfg, first=WEEK[0], end=WEEK[1],
                          interval="1d", now=NOW)  # fmt: skip
    paths = write_export(export, world.cfg, tmp_path / "out")
    assert sorted(paths) == ["README.md", "data.csv", "data.json", "metadata.jsonld",
                             "stations.geojson"]  # fmt: skip
    raw = paths["data.csv"].read_bytes()
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    assert tuple(rows[0]) == COLUMNS
    assert PRIVATE not in raw.decode() and PRIVATE not in paths["data.json"].read_text()
    dst = [r for r in rows if r["period_local"].startswith("2026-03-29") and r["level"] == "device"]
    assert {(r["period_start_utc"], r["period_end_utc"]) for r in dst} == {
        ("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z")  # 23 hours
    }
    temp = next(r for r in rows if r["quantity"] == "temperature" and r["statistic"] == "mean")
    assert temp["unit"] == "°C" and temp["interval"] == "P1D" and temp["coverage"] == "1"
    assert float(temp["value"]) == pytest.approx(
        next(r.value for r in export.rows if r.quantity == "temperature")
    )
    geo = json.loads(paths["stations.geojson"].read_text())
    assert sorted(f["id"] for f in geo["features"]) == sorted(s.station_id for s in STATIONS)
    f0 = next(f for f in geo["features"] if f["id"] == STATIONS[0].station_id)
    assert f0["geometry"]["coordinates"] == [STATIONS[0].longitude, STATIONS[0].latitude]
    assert f0["properties"]["category"] == "environment"
    text = paths["README.md"].read_text()
    for col in COLUMNS:
        assert f"`{col}`" in text
    assert "not plausibility-checked" in text and "dl-by-de/2.0" in text
    # German first, then the same in English (#14)
    german, english = text.split("## English")
    assert "nicht auf Plausibilität geprüft" in german and "## Spalten von data.csv" in german
    assert "Bezeichnung" in german and "Personen" in german and "Spalte" in german
    assert "plausibility" not in german and "Amt Föhr-Amrum" in german
    assert "### Columns of data.csv" in english and "Zeitraum" not in english
    assert "Amt Föhr-Amrum" in text and "`people_in`" in text and "°C" in text
    doc = json.loads(paths["metadata.jsonld"].read_text())
    assert validate(doc) == []
    assert doc["dcatde:politicalGeocodingURI"]["@id"] == BORGSUM
    assert doc["dct:temporal"]["dcat:startDate"]["@value"] == "2026-03-23"
    dists = doc["dcat:distribution"]
    assert [d["dcatde:licenseAttributionByText"] for d in dists] == ["Amt Föhr-Amrum"] * 3
    assert dists[0]["dcat:accessURL"]["@id"].startswith(
        "https://sensors.example.org/api/v1/opendata/data.csv?interval=P1D&from=2026-03-23"
    )


def test_validator_applies_the_portal_rules(world: World) -> None:
    export = build_export(world.store, world.registry, world.cfg, first=WEEK[0], end=WEEK[1],
                          interval="1d", category="nothing", now=NOW)  # fmt: skip
    assert export.rows == [] and export.stations == []
    bare = OpenDataSettings(political_geocoding_uri=None, public_api_url=None)
    problems = "\n".join(validate(dataset_jsonld(export, bare)))
    assert "geographic coverage" in problems and "accessURL" in problems
    zero = OpenDataSettings(license="http://dcat-ap.de/def/licenses/dl-zero-de/2.0")
    doc = dataset_jsonld(export, zero)
    assert validate(doc) == []
    assert "dcatde:licenseAttributionByText" not in doc["dcat:distribution"][0]
    doc["dcat:distribution"][0]["dcatde:licenseAttributionByText"] = "X"
    assert any("forbidden" in p for p in validate(doc))
    doc = dataset_jsonld(export, world.cfg)
    del doc["dcat:distribution"][1]["dcatde:licenseAttributionByText"]
    doc["dcat:theme"] = [{"@id": "http://publications.europa.eu/resource/authority/data-theme/X"}]
    doc["dct:title"] = {"@value": " "}
    got = validate(doc)
    assert any("requires dcatde:licenseAttributionByText" in p for p in got)
    assert any("data-theme" in p for p in got) and any("dct:title" in p for p in got)
    with pytest.raises(ValueError, match="licence URI"):
        OpenDataSettings(license="https://creativecommons.org/licenses/by/4.0/")


def test_cli_export(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = cli.main(["export", "--category", "tourism", "--interval", "1h", "--from",
                     "2026-03-29", "--to", "2026-03-30", "--format", "csv", "--out", str(out)])  # fmt: skip
    assert code == 0
    assert not (out / "data.json").exists()
    rows = list(csv.DictReader((out / "data.csv").open(encoding="utf-8")))
    assert {r["station_id"] for r in rows} == {"A84041000181BEEF", "site:beach"}
    assert len({r["period_start_utc"] for r in rows}) == 23
    assert "rows, 1 public stations" in capsys.readouterr().out
    assert (
        cli.main(["export", "--from", "2026-03-30", "--to", "2026-03-29", "--out", str(out)]) == 2
    )


def test_api_downloads(world: World) -> None:
    from api.main import create_app

    app = create_app(load_settings(), store=world.store, registry=world.registry,
                     clock=lambda: NOW)  # fmt: skip
    c = TestClient(app)
    q = "interval=1d&from=2026-03-23&to=2026-03-30"
    r = c.get(f"/api/v1/opendata/data.csv?{q}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    export = build_export(world.store, world.registry, world.cfg, first=WEEK[0], end=WEEK[1],
                          interval="1d", now=NOW)  # fmt: skip
    assert r.text == to_csv(export.rows)
    j = c.get(f"/api/v1/opendata/data.json?{q}&category=traffic").json()
    assert {row["station_id"] for row in j["rows"]} == {"A84041000181CAFE", "site:lot"}
    m = c.get(f"/api/v1/opendata/metadata.jsonld?{q}")
    assert m.headers["content-type"] == "application/ld+json" and validate(m.json()) == []
    s = c.get("/api/v1/opendata/stations.geojson")
    assert s.headers["content-type"] == "application/geo+json"
    assert PRIVATE not in s.text and len(s.json()["features"]) == len(STATIONS)
    default = c.get("/api/v1/opendata/data.json").json()  # last 7 local days before NOW
    assert (default["from_local"], default["to_local_exclusive"]) == ("2026-03-24", "2026-03-31")
    assert c.get("/api/v1/opendata/data.csv?from=2026-03-30&to=2026-03-23").status_code == 422
    assert c.get("/api/v1/opendata/data.csv?interval=2d").status_code == 422


def _publish(ckan_url: str, key_file: Path, *extra: str) -> int:
    return cli.main(["opendata", "publish", "--portal", ckan_url, "--api-key-file", str(key_file),
                     "--dataset", "lorawan-test", "--org", "amt", "--interval", "1d",
                     "--from", "2026-03-23", "--to", "2026-03-30", *extra])  # fmt: skip


def test_publish_to_ckan_standin_is_idempotent(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "key"
    key.write_text("secret-key\n")
    with running_ckan("secret-key") as ckan:
        assert _publish(ckan.url, key, "--dry-run") == 0
        assert ckan.writes() == [] and "would send: POST /api/3/action/package_create" in (
            capsys.readouterr().out
        )
        assert _publish(ckan.url, key) == 0
        assert ckan.writes() == ["package_create"] + ["resource_create"] * 4
        pkg = ckan.packages["lorawan-test"]
        extras = {e["key"]: e["value"] for e in pkg["extras"]}
        assert extras["temporal_start"] == "2026-03-23" and extras["spatial_uri"] == BORGSUM
        assert extras["licenseAttributionByText"] == "Amt Föhr-Amrum"
        assert pkg["license_id"] == "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
        csv_res = next(r for r in pkg["resources"] if r["name"] == "data.csv")
        assert csv_res["format"] == "CSV" and csv_res["url_type"] == "upload"
        assert ckan.uploads[csv_res["id"]].startswith(b"station_id,level,period_start_utc")
        assert PRIVATE.encode() not in b"".join(ckan.uploads.values())
        # second run: nothing changes
        ckan.calls.clear()
        assert _publish(ckan.url, key) == 0
        assert ckan.writes() == []
        assert "unchanged: dataset, data.csv, data.json, stations.geojson, README.md" in (
            capsys.readouterr().out
        )
        # new readings change the data files only
        from storage.base import Point
        from storage.sqlite import to_ns

        world.store.write([Point(measurement="temperature", fields={"value": 30.0},
                                 tags={"dev_eui": STATIONS[0].station_id},
                                 time_ns=to_ns(datetime(2026, 3, 24, 12, 1, tzinfo=UTC)))])  # fmt: skip
        ckan.calls.clear()
        assert _publish(ckan.url, key) == 0
        assert ckan.writes() == ["resource_update", "resource_update"]  # data.csv, data.json
        # stable URLs instead of uploads
        ckan.calls.clear()
        assert _publish(ckan.url, key, "--urls") == 0
        assert ckan.writes() == ["resource_update"] * 3
        urls = [r["url"] for r in ckan.packages["lorawan-test"]["resources"]]
        assert urls[0].startswith("https://sensors.example.org/api/v1/opendata/data.csv?")
        # a wrong key is refused, the error is shown, the exit code says so
        key.write_text("wrong")
        world.store.write([Point(measurement="temperature", fields={"value": 31.0},
                                 tags={"dev_eui": STATIONS[0].station_id},
                                 time_ns=to_ns(datetime(2026, 3, 24, 12, 2, tzinfo=UTC)))])  # fmt: skip
        assert _publish(ckan.url, key) == 1
        assert "Authorization Error" in capsys.readouterr().err
