"""``$__interval`` as Grafana computes it (``dashboards/interval.py``), and that every panel
grouped by ``$__interval`` chose its Max data points (#15)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import interval as iv
from dashboards.generate import load_committed

DAY_MS = 86_400_000
BOARDS = load_committed()


@pytest.mark.parametrize(
    ("ms", "nice"),
    [
        # Grafana's rangeutil.roundInterval: nearest on its own boundaries, not always up
        (5, 1),
        (14.9, 10),
        (1_499, 1_000),
        (1_500, 2_000),
        (89_999, 60_000),
        (90_000, 120_000),
        (30 * DAY_MS / 200, 3 * 3_600_000),  # 3.6 h -> 3 h (the brief's "about 3 h")
        (16_200_000, 6 * 3_600_000),  # 4.5 h -> 6 h
        (86_400_000, DAY_MS),
        (604_799_999, DAY_MS),
        (604_800_000, 7 * DAY_MS),
        (3_628_800_000, 365 * DAY_MS),
    ],
)
def test_round_interval_follows_grafanas_table(ms: float, nice: int) -> None:
    assert iv.round_interval(ms) == nice


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (10_800, "3h"),
        (86_400, "1d"),
        (7 * 86_400, "7d"),
        (30 * 86_400, "30d"),
        (365 * 86_400, "1y"),
        (900, "15m"),
        (90, "1m"),  # the largest non-zero unit only, as secondsToHms does
        (20, "20s"),
        (0.5, "500ms"),
    ],
)
def test_seconds_to_hms_writes_intervals_as_grafana_does(seconds: float, text: str) -> None:
    assert iv.seconds_to_hms(seconds) == text


def test_interval_to_ms_reads_min_intervals() -> None:
    assert iv.interval_to_ms("15m") == 900_000
    assert iv.interval_to_ms("1h") == 3_600_000
    assert iv.interval_to_ms("2d") == 2 * DAY_MS
    assert iv.interval_to_ms("250ms") == 250
    assert iv.interval_to_ms("30") == 30_000  # unit-less = seconds
    with pytest.raises(iv.IntervalError, match="'fifteen'.*for example 15m"):
        iv.interval_to_ms("fifteen")


def test_calculate_interval_divides_rounds_and_honours_the_minimum() -> None:
    assert iv.calculate_interval(30 * DAY_MS, 200) == iv.Interval(text="3h", ms=10_800_000)
    assert iv.calculate_interval(7 * DAY_MS, 100, "15m") == iv.Interval(text="2h", ms=7_200_000)
    # a short range: the minimum wins over range / points
    assert iv.calculate_interval(DAY_MS, 100, "15m") == iv.Interval(text="15m", ms=900_000)
    assert iv.calculate_interval(DAY_MS, 200, "1h").text == "1h"


def test_panel_without_settings_gets_the_width_and_the_datasource_minimum() -> None:
    # 1,000 px assumed: 30 days / 1,000 = 43 min -> 30m; 1 hour / 1,000 = 3.6 s -> 5 s,
    # raised to the datasource's 1m
    assert iv.panel_interval({}, 30 * DAY_MS).text == "30m"
    assert iv.panel_interval({}, 3_600_000) == iv.Interval(text="1m", ms=60_000)
    panel = {"maxDataPoints": 100, "interval": "15m"}
    assert iv.panel_interval(panel, 30 * DAY_MS).text == "6h"


def test_datasource_minimum_is_the_provisioned_one() -> None:
    path = Path(iv.__file__).parent / "provisioning" / "datasources" / "influxdb.yaml"
    [ds] = yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    assert ds["jsonData"]["timeInterval"] == iv.DATASOURCE_MIN_INTERVAL


def _grouped_by_interval() -> list[Any]:
    return [
        pytest.param(p, id=f"{name}-{p['id']}")
        for name, board in BOARDS.items()
        for p in board["panels"]
        if any("$__interval" in t["query"] for t in p.get("targets", []))
    ]


@pytest.mark.parametrize("panel", _grouped_by_interval())
def test_every_panel_grouped_by_interval_sets_its_max_data_points(panel: dict[str, Any]) -> None:
    assert panel.get("maxDataPoints"), f"{panel['title']}: no maxDataPoints"
    # 30 days stay readable: at most 400 buckets per series, and no bucket above 6 h
    got = iv.panel_interval(panel, 30 * DAY_MS)
    assert 30 * DAY_MS / got.ms <= 400, (panel["title"], got)
    assert got.ms <= 6 * 3_600_000, (panel["title"], got)
