"""The committed dashboards read back through grafana-foundation-sdk's types (generated from
Grafana's schemas), and what #15 asks of their content: German by default with English
available, installer links, dashboard links, thresholds from the guidance, flood marks."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.models import dashboard as gm
from grafana_foundation_sdk.models import stat as stat_model
from grafana_foundation_sdk.models import timeseries as ts_model

from dashboards import marks
from dashboards.generate import build_all, load_committed, stale, write_all
from dashboards.grafana import (
    TIMEZONE,
    InfluxQuery,
    Options,
    SchemaError,
    from_json,
    through_schema,
    to_json,
)
from lorawan_monitor.cli import main
from tests.dashboards.test_queries_influx import group_tags

BOARDS = load_committed()


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_committed_dashboard_reads_back_through_the_sdk_types_unchanged(name: str) -> None:
    board = BOARDS[name]
    typed = from_json(board)
    assert isinstance(typed, gm.Dashboard)
    assert to_json(typed) == board
    for panel in typed.panels or []:
        if isinstance(panel, gm.RowPanel):
            continue
        assert panel.targets and all(isinstance(t, InfluxQuery) for t in panel.targets)
        if panel.type_val == "timeseries":
            assert isinstance(panel.options, ts_model.Options)
        if panel.type_val == "stat":
            assert isinstance(panel.options, stat_model.Options)


def test_an_option_the_schema_does_not_know_is_refused() -> None:
    board = copy.deepcopy(BOARDS["environment"])
    panel = next(p for p in board["panels"] if p["type"] == "timeseries")
    panel["options"]["legend"]["shwoLegend"] = True  # a typo Grafana would ignore silently
    with pytest.raises(SchemaError, match="shwoLegend dropped"):
        through_schema(board)
    board = copy.deepcopy(BOARDS["network"])
    board["panels"][1]["fieldConfig"]["defaults"]["uint"] = "percent"
    with pytest.raises(SchemaError, match="uint dropped"):
        through_schema(board)


def test_dashboards_are_german_in_berlin_time_and_english_on_request() -> None:
    de, en = build_all(Options(lang="de")), build_all(Options(lang="en"))
    assert de == BOARDS
    assert de["network"]["title"] == "LoRaWAN – Netz und Geräte"
    assert en["network"]["title"] == "LoRaWAN – Network & devices"
    for name in de:
        assert de[name]["timezone"] == en[name]["timezone"] == TIMEZONE
        pd, pe = _panels(de[name]), _panels(en[name])
        queries = [[t["query"] for t in p["targets"]] for p in pd]
        assert queries == [[t["query"] for t in p["targets"]] for p in pe]
        differ = sum(a["title"] != b["title"] for a, b in zip(pd, pe, strict=True))
        assert differ >= len(pd) - 2, f"{name}: only {differ} of {len(pd)} titles translated"
        texts = sum(a["description"] != b["description"] for a, b in zip(pd, pe, strict=True))
        assert texts >= len(pd) - 1
    network_de = {p["title"] for p in _panels(de["network"])}
    assert {"Probleme", "Alarme", "Batteriespannung je Gerät", "Paketverlust"} <= network_de


def test_problems_panel_comes_first_on_the_network_dashboard() -> None:
    first = _panels(BOARDS["network"])[0]
    assert first["title"] == "Probleme" and first["gridPos"]["y"] <= 1
    queries = " ".join(t["query"] for t in first["targets"])
    assert "decode_status\" = 'error'" in queries
    assert f"now() - {marks.SILENT_AFTER}" in queries
    assert 'FROM "battery"' in queries and 'FROM "battery_voltage"' in queries
    [flt] = [t for t in first["transformations"] if t["id"] == "filterByValue"]
    limits = {f["fieldName"]: f["config"] for f in flt["options"]["filters"]}
    assert limits["recent"]["id"] == "isNull"
    assert limits["battery"]["options"]["value"] == marks.BATTERY_LOW_PERCENT
    assert limits["battery_voltage"]["options"]["value"] == marks.BATTERY_LOW_VOLTS


def _links(panel: dict[str, Any]) -> list[str]:
    urls = [link["url"] for link in panel["fieldConfig"]["defaults"].get("links", [])]
    for o in panel["fieldConfig"]["overrides"]:
        for prop in o["properties"]:
            if prop["id"] == "links":
                urls += [link["url"] for link in prop["value"]]
    return urls


def _groups_by_device(panel: dict[str, Any]) -> bool:
    return any("dev_eui" in group_tags(t["query"]) for t in panel["targets"])


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_device_series_and_row_links_to_its_installer_page(name: str) -> None:
    checked = 0
    for panel in _panels(BOARDS[name]):
        if not _groups_by_device(panel):
            continue
        checked += 1
        urls = _links(panel)
        want = (
            "http://localhost:8080/installer#${__data.fields.dev_eui}"
            if panel["type"] in ("table", "geomap")
            else "http://localhost:8080/installer#${__field.labels.dev_eui}"
        )
        assert want in urls, (panel["title"], urls)
    assert checked >= {"environment": 8, "network": 10}.get(name, 1)


def test_installer_links_follow_the_api_url() -> None:
    board = build_all(Options(api_url="https://iot.example.de"))["network"]
    text = json.dumps(board)
    assert "localhost" not in text
    assert "https://iot.example.de/installer#${__data.fields.dev_eui}" in text
    assert "https://iot.example.de/api/v1/opendata/README.md" in text


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_dashboards_link_to_each_other_and_to_the_opendata_export(name: str) -> None:
    links = BOARDS[name]["links"]
    kinds = {link["type"]: link for link in links}
    assert kinds["dashboards"]["tags"] == ["lorawan"]
    assert kinds["dashboards"]["keepTime"] and kinds["dashboards"]["includeVars"]
    assert any(link.get("url", "").endswith("/api/v1/opendata/README.md") for link in links)
    assert all("lorawan" in b["tags"] for b in BOARDS.values())


def _panel(board: str, title: str, boards: dict[str, Any] | None = None) -> dict[str, Any]:
    for p in _panels((boards or BOARDS)[board]):
        if p["title"] == title:
            return p
    raise AssertionError(title)


def _steps(panel: dict[str, Any]) -> list[tuple[float | None, str]]:
    th = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(s["value"], s["color"]) for s in th]


def test_thresholds_follow_the_guidance() -> None:
    co2 = _panel("environment", "CO₂-Konzentration")
    assert _steps(co2) == [(None, "green"), (1000.0, "orange"), (2000.0, "red")]
    assert "Umweltbundesamt" in co2["description"]
    temp = _panel("environment", "Temperatur")
    assert _steps(temp) == [(None, "blue"), (0.0, "green")]
    assert temp["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"
    volts = _panel("network", "Batteriespannung je Gerät")
    assert volts["fieldConfig"]["defaults"]["unit"] == "volt"
    assert _steps(volts) == [(None, "red"), (3.0, "orange"), (3.3, "green")]
    pct = _panel("network", "Batterie je Gerät")
    assert pct["fieldConfig"]["defaults"]["unit"] == "percent"
    assert _steps(pct) == [(None, "red"), (20.0, "orange"), (40.0, "green")]
    for board in ("tourism", "traffic"):
        occ = _panel(board, "Auslastung der Parkplätze")
        assert occ["fieldConfig"]["defaults"]["unit"] == "percent"
        assert occ["fieldConfig"]["defaults"]["color"]["mode"] == "thresholds"
        assert _steps(occ)[-1] == (90.0, "red")


def test_flood_marks_per_site() -> None:
    o = Options(flood_marks={"Wyk Hafen": (3.0, 2.5), "St. Georg": (1.0,)})
    panel = _panel("environment", "Wasserstand", build_all(o))
    by_site = {
        ov["matcher"]["options"]: {p["id"]: p["value"] for p in ov["properties"]}
        for ov in panel["fieldConfig"]["overrides"]
    }
    hafen = by_site["^Wyk Hafen / .*"]["thresholds"]["steps"]
    assert [(s["value"], s["color"]) for s in hafen] == [
        (None, "green"),
        (2.5, "yellow"),
        (3.0, "orange"),
    ]
    assert re.match("^St\\. Georg / .*", "St. Georg / Pegel 1")
    assert "^St\\. Georg / .*" in by_site
    assert not re.match("^St\\. Georg / .*", "StX Georg / Pegel 1")
    assert _panel("environment", "Wasserstand")["fieldConfig"]["overrides"] == []


def test_cli_generates_english_with_options(tmp_path: Path) -> None:
    args = ["dashboards", "generate", "--dir", str(tmp_path), "--lang", "en"]
    assert main([*args, "--flood-mark", "Nebel=1.5,2"]) == 0
    env = json.loads((tmp_path / "environment.json").read_text("utf-8"))
    assert env["title"] == "LoRaWAN – Environment"
    assert stale(tmp_path, Options(lang="en", flood_marks={"Nebel": (1.5, 2.0)})) == []
    assert main([*args, "--check"]) == 1  # without the flood mark the files differ
    with pytest.raises(SystemExit):
        main([*args, "--flood-mark", "no-equals-sign"])
    assert write_all(tmp_path) != []  # the defaults (German) differ from what was there


def test_alert_panels_read_the_alert_contract_and_say_the_state_in_german() -> None:
    timeline = _panel("network", "Alarme")
    table = _panel("network", "Alarmzustand jetzt")
    [q1], [q2] = ([t["query"] for t in p["targets"]] for p in (timeline, table))
    assert 'last("firing")' in q1 and 'FROM "lorawan_alert"' in q1
    assert all(f'"{tag}"' in q2 for tag in ("rule", "severity", "device", "dev_eui", "site"))
    [state] = [o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "state"]
    [mapping] = [p["value"] for p in state["properties"] if p["id"] == "mappings"]
    texts = {k: v["text"] for k, v in mapping[0]["options"].items()}
    assert texts == {
        "pending": "ausstehend",
        "firing": "ausgelöst",
        "resolved": "behoben",
        "ok": "ok",
    }
