"""Static checks on the committed dashboards and the provisioning files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.generate import JSON_DIR, build_all, load_committed, render, stale, write_all
from dashboards.grafana import DATASOURCE_UID
from dashboards.influxql import ALERT, LOCATION, LOCATION_UNITS, ROLLUP, UPLINK, UPLINK_UNITS
from decoders.quantities import CATALOGUE, Quantity

PROVISIONING = JSON_DIR.parent / "provisioning"
BOARDS = load_committed()
UIDS = {
    "environment": "lorawan-environment",
    "tourism": "lorawan-tourism",
    "traffic": "lorawan-traffic",
    "network": "lorawan-network",
}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def all_panels() -> list[Any]:
    return [
        pytest.param(name, p, id=f"{name}-{p['id']}")
        for name, b in BOARDS.items()
        for p in panels(b)
    ]


def test_regenerating_gives_the_committed_files() -> None:
    assert stale() == [], "run `lorawan-monitor dashboards generate` and commit dashboards/json"


def test_stale_detects_a_changed_file(tmp_path: Path) -> None:
    assert len(write_all(tmp_path)) == len(BOARDS)
    assert write_all(tmp_path) == []
    f = tmp_path / "network.json"
    f.write_text(f.read_text().replace("Uplinks je Stunde", "Uplinks je Std."))
    (tmp_path / "old.json").write_text("{}")
    assert stale(tmp_path) == ["network.json", "old.json"]


def test_generation_is_deterministic() -> None:
    assert {n: render(b) for n, b in build_all().items()} == {
        n: render(b) for n, b in build_all().items()
    }


def test_uids_fixed_and_ids_stable() -> None:
    assert {n: b["uid"] for n, b in BOARDS.items()} == UIDS
    for board in BOARDS.values():
        assert board.get("id") is None
        ids = [p["id"] for p in board["panels"]]
        assert ids == list(range(1, len(ids) + 1)), "panel ids must be 1..n in order"
        for p in board["panels"]:
            g = p["gridPos"]
            assert 0 <= g["x"] and g["x"] + g["w"] <= 24


def test_provisioned_datasource_uid() -> None:
    doc = yaml.safe_load((PROVISIONING / "datasources" / "influxdb.yaml").read_text())
    [ds] = doc["datasources"]
    assert ds["uid"] == DATASOURCE_UID
    assert ds["type"] == "influxdb" and ds["jsonData"]["version"] == "InfluxQL"
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "lora.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"


def _datasources(node: Any) -> list[dict[str, Any]]:
    """Every datasource reference anywhere in the JSON."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict):
            found.append(node["datasource"])
        for v in node.values():
            found += _datasources(v)
    elif isinstance(node, list):
        for v in node:
            found += _datasources(v)
    return found


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_reference_uses_the_provisioned_datasource(name: str) -> None:
    refs = _datasources(BOARDS[name])
    assert refs
    assert all(r == {"type": "influxdb", "uid": DATASOURCE_UID} for r in refs)
    for p in panels(BOARDS[name]):
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["rawQuery"] is True and t["query"].startswith("SELECT ")
            assert "from(bucket" not in t["query"], "InfluxQL only, never Flux"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_template_variables(name: str) -> None:
    variables = {v["name"]: v for v in BOARDS[name]["templating"]["list"]}
    assert list(variables) == ["application", "site", "name"]
    assert [v["label"] for v in variables.values()] == ["Anwendung", "Standort", "Gerät"]
    for v in variables.values():
        assert v["query"].startswith(f'SHOW TAG VALUES FROM "{UPLINK}" WITH KEY = "{v["name"]}"')
        assert v["multi"] and v["includeAll"] and v["allValue"] == ".*"
    for p in panels(BOARDS[name]):
        for t in p["targets"]:
            # alert points carry site and device, not application or the registry name
            wanted = ["site"] if f'FROM "{ALERT}"' in t["query"] else list(variables)
            for var in wanted:
                assert f'"{var}" =~ /^${var}$/' in t["query"], (p["title"], var)


KNOWN = {q.value for q in Quantity} | {UPLINK, LOCATION, ALERT, ROLLUP}


@pytest.mark.parametrize(("name", "panel"), all_panels())
def test_measurements_are_known(name: str, panel: dict[str, Any]) -> None:
    for t in panel["targets"]:
        for m in re.findall(r'FROM "(\w+)"', t["query"]):
            assert m in KNOWN, f"{m!r} is neither a Quantity nor {UPLINK}/{LOCATION}"


def expected_unit(expr: str, measurement: str) -> str:
    """Grafana unit a SELECT expression should carry: the catalogue's for a quantity value,
    ``percent`` for a share ``* 100``, ``none`` for a count of uplinks."""
    if "* 100" in expr:
        return "percent"
    if expr.startswith("elapsed("):
        return "s"
    field = re.search(r'"(\w+)"', expr)
    assert field, expr
    if measurement in UPLINK_UNITS or measurement == UPLINK:
        return "none" if expr.startswith("count(") else UPLINK_UNITS[field.group(1)]
    if measurement == LOCATION:
        return LOCATION_UNITS[field.group(1)]
    if measurement in (ALERT, ROLLUP):
        return "none"  # alert states; the rollup's counts of uplinks and frames
    return CATALOGUE[Quantity(measurement)].grafana_unit


def split_select(query: str) -> list[tuple[str, str]]:
    """(expression, column name) of the outer SELECT."""
    outer = query[len("SELECT ") : query.index(" FROM ")]
    parts, depth, cur = [], 0, ""
    for ch in outer:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    out = []
    for p in parts:
        m = re.match(r"(.*) AS \"(\w+)\"$", p)
        out.append((m.group(1), m.group(2)) if m else (p, p))
    return out


@pytest.mark.parametrize(("name", "panel"), all_panels())
def test_panel_units_match_the_catalogue(name: str, panel: dict[str, Any]) -> None:
    default = panel["fieldConfig"]["defaults"]["unit"]
    overrides = {
        o["matcher"]["options"]: p["value"]
        for o in panel["fieldConfig"]["overrides"]
        for p in o["properties"]
        if p["id"] == "unit"
    }
    for t in panel["targets"]:
        meas = re.findall(r'FROM "(\w+)"', t["query"])[-1]
        inner = t["query"]
        if inner.count("SELECT ") > 1:  # read the expression of the innermost SELECT
            inner = inner[inner.rindex("SELECT ") :]
        for (expr, column), (inner_expr, _) in zip(
            split_select(t["query"]), split_select(inner) * 4, strict=False
        ):
            use = expr if "* 100" in expr or expr.startswith("count(") else inner_expr
            want = expected_unit(use, meas)
            got = overrides.get(column, default) if t["resultFormat"] == "table" else default
            assert got == want, f"{panel['title']}: {column} of {meas} is {got}, want {want}"


@pytest.mark.parametrize(("name", "panel"), all_panels())
def test_every_panel_has_a_title_and_a_description(name: str, panel: dict[str, Any]) -> None:
    assert panel["title"] and panel["description"], panel


def test_unit_check_can_fail() -> None:
    assert expected_unit('mean("value")', "temperature") == "celsius"
    assert expected_unit('mean("rssi")', UPLINK) == "dBm"
    assert expected_unit('mean("value") * 100', "occupied") == "percent"
    assert expected_unit('elapsed("f_cnt", 1s)', UPLINK) == "s"
    with pytest.raises(ValueError):
        expected_unit('mean("value")', "not_a_quantity")
