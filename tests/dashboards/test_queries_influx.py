"""Every panel query of the committed dashboards, with Grafana's macros substituted the way
Grafana does, runs on a real InfluxDB 1.x filled with city data and returns the series the
panel expects (non-empty, the GROUP BY tags, the devices that wrote the measurement)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dashboards.generate import load_committed
from dashboards.interval import Interval, panel_interval
from tests.dashboards.conftest import FilledInflux

pytestmark = pytest.mark.integration

BOARDS = load_committed()
QUERIES = [
    (name, panel, t)
    for name, board in BOARDS.items()
    for panel in board["panels"]
    for t in panel.get("targets", [])
    if not t.get("hide")
]
TARGETS = [
    pytest.param(BOARDS[name], panel, t, id=f"{name}-{panel['id']}-{t['refId']}")
    for name, panel, t in QUERIES
]
VARIABLES = [
    pytest.param(name, v, id=f"{name}-{v['name']}")
    for name, board in BOARDS.items()
    for v in board["templating"]["list"]
]


def escape_regex(value: str) -> str:
    """Grafana's escapeRegex (the InfluxDB datasource escapes multi-value variables)."""
    return re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(0), value)


#: what ``interpolate`` substitutes when given no interval (the bench's "before": one fixed 1h)
FIXED_HOUR = Interval(text="1h", ms=3_600_000)


def interpolate(
    query: str,
    now_s: int,
    selected: dict[str, list[str]] | None = None,
    days: int = 7,
    interval: Interval = FIXED_HOUR,
) -> str:
    """Substitute as Grafana does for InfluxQL: $timeFilter in epoch ms, ${__from} and
    ${__to} (the range in epoch ms), $__interval and $__interval_ms (``interval``: the
    panel's, from ``dashboards.interval.panel_interval``), and multi-value variables as
    ``(a|b)`` (or the ``.*`` "All" value)."""
    selected = selected or {}
    start_ms, end_ms = (now_s - days * 86400) * 1000, now_s * 1000
    out = query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    out = out.replace("${__from}", str(start_ms)).replace("${__to}", str(end_ms))
    out = out.replace("$__interval_ms", str(interval.ms)).replace("$__interval", interval.text)
    for name in ("application", "site", "name"):
        values = selected.get(name)
        if not values:
            text = ".*"  # allValue of every variable
        elif len(values) == 1:
            text = escape_regex(values[0])
        else:
            text = "(" + "|".join(escape_regex(v) for v in values) + ")"
        out = out.replace(f"${name}", text)
    assert "$" not in out.replace("$/", ""), f"unsubstituted macro in {out}"
    return out


def _outer(query: str) -> str:
    """The query with parenthesised subqueries removed (to read the outer GROUP BY)."""
    depth, out = 0, []
    for ch in query:
        depth += ch == "("
        if depth == 0:
            out.append(ch)
        depth -= ch == ")"
    return "".join(out)


def group_tags(query: str) -> set[str]:
    m = re.search(r"GROUP BY (.*?)(?: fill\(| tz\(|$)", _outer(query))
    return set(re.findall(r'"(\w+)"', m.group(1))) if m else set()


def measurement(query: str) -> str:
    """The innermost FROM (the measurement that holds the data)."""
    found: list[str] = re.findall(r'FROM "(\w+)"', query)
    return found[-1]


def category(query: str) -> str | None:
    m = re.search(r"\"category\" = '(\w+)'", query)
    return m.group(1) if m else None


def series(result: dict[str, Any], query: str) -> list[dict[str, Any]]:
    [res] = result["results"]
    assert "error" not in res, f"{res.get('error')} in {query}"
    return list(res.get("series", []))


def test_city_covers_every_measurement_queried(city: FilledInflux) -> None:
    queried = {measurement(t["query"]) for _, _, t in QUERIES}
    written = {m for m, _ in city.data.writers}
    assert queried <= written, f"no test data for {queried - written}"


@pytest.mark.parametrize(("board", "panel", "target"), TARGETS)
def test_panel_query_returns_expected_series(
    city: FilledInflux, board: dict[str, Any], panel: dict[str, Any], target: dict[str, Any]
) -> None:
    q = interpolate(target["query"], city.now_s, interval=_interval(panel))
    got = series(city.query(q), q)
    assert got, f"no data for panel {panel['title']!r}: {q}"
    want_tags = group_tags(target["query"])
    for s in got:
        assert set(s.get("tags", {})) == want_tags, (s.get("tags"), q)
        values = [v for row in s["values"] for v in row[1:] if v is not None]
        assert values, f"only nulls in {s} for {q}"
    # the series are exactly the devices (or sites) that wrote this measurement
    filtered = re.search(r"\"(decode_status|spreading_factor)\" = ", q)
    writers = city.data.devices_of(measurement(q), category(q))
    if "device" in want_tags and not filtered:
        assert {s["tags"]["device"] for s in got} == writers, q
    if "site" in want_tags and not filtered:
        sites = {d.site for d in _devices() if d.device in writers}
        assert {s["tags"]["site"] for s in got} == sites, q


def _interval(panel: dict[str, Any], days: int = 7) -> Interval:
    """The panel's $__interval for the range the tests query, as Grafana computes it."""
    return panel_interval(panel, days * 86_400_000)


def _devices() -> tuple[Any, ...]:
    from tests.dashboards.conftest import DEVICES

    return DEVICES


@pytest.mark.parametrize(("board", "panel", "target"), TARGETS)
def test_panel_query_honours_selected_site(
    city: FilledInflux, board: dict[str, Any], panel: dict[str, Any], target: dict[str, Any]
) -> None:
    """Selecting two sites (one with a space and dot, one with a slash) restricts the series."""
    chosen = ["St. Georg", "Ring/Nord", "Strand"]
    q = interpolate(target["query"], city.now_s, {"site": chosen}, interval=_interval(panel))
    got = series(city.query(q), q)
    devs = {d.device for d in _devices() if d.site in chosen}
    for s in got:
        tags = s.get("tags", {})
        if "site" in tags:
            assert tags["site"] in chosen, q
        if "device" in tags:
            assert tags["device"] in devs, q
    writers = city.data.devices_of(measurement(q), category(q)) & devs
    if writers and not re.search(r"\"(decode_status|spreading_factor)\" = ", q):
        assert got, f"selected sites have data but the query returned none: {q}"


@pytest.mark.parametrize(("name", "variable"), VARIABLES)
def test_template_variable_query_lists_values(
    city: FilledInflux, name: str, variable: dict[str, Any]
) -> None:
    q = interpolate(variable["query"], city.now_s)
    got = series(city.query(q), q)
    values = {row[1] for s in got for row in s["values"]}
    category_of = {"environment": "environment", "tourism": "tourism", "traffic": "traffic"}
    devs = [d for d in _devices() if category_of.get(name, d.category) == d.category]
    want = {getattr(d, variable["name"]) for d in devs} - {""}
    assert values == want, q


def test_interpolation_matches_grafana_examples() -> None:
    q = 'SELECT 1 FROM "x" WHERE $timeFilter AND "site" =~ /^$site$/ GROUP BY time($__interval)'
    out = interpolate(q, 1_000_000, {"site": ["a.b", "c/d"]})
    assert out == (
        'SELECT 1 FROM "x" WHERE time >= 395200000ms and time <= 1000000000ms '
        'AND "site" =~ /^(a\\.b|c\\/d)$/ GROUP BY time(1h)'
    )
    assert group_tags('SELECT x FROM (SELECT y GROUP BY "device") GROUP BY "site"') == {"site"}
