"""``lorawan-monitor dashboards rollup`` (#15) on a real influxd: the hourly rollup the
frame-loss panels read. Its figures against the raw computation: test_frame_loss.py."""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx
import pytest

from dashboards.rollup import ROLLUP, TAGS
from lorawan_monitor.cli import main
from lorawan_monitor.commands.rollup import duration
from tests.servers import Influxd

pytestmark = pytest.mark.integration


def _write(influxd: Influxd, db: str, lines: list[str]) -> None:
    r = httpx.post(
        f"{influxd.url}/write", params={"db": db, "precision": "s"}, content="\n".join(lines)
    )
    assert r.status_code == 204, r.text


def _rows(influxd: Influxd, db: str) -> list[dict[str, Any]]:
    q = f'SELECT * FROM "{ROLLUP}"'
    res = influxd.query(q, db=db)["results"][0]
    if "series" not in res:
        return []
    s = res["series"][0]
    return [dict(zip(s["columns"], v, strict=True)) for v in s["values"]]


def test_rollup_command_fills_hours_with_the_device_tags(
    influxd: Influxd, influx_db: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    hour = int(time.time()) // 3600 * 3600 - 3 * 3600
    tags = "application=city,category=environment,dev_eui=A1,device=d1,model=dragino/lht65"
    lines = [
        # an old name first, the registry's new one later: the rollup takes the latest
        f"lorawan_uplink,{tags},name=Alt,site=Hafen,decode_status=decoded f_cnt=1 {hour + 60}",
        f"lorawan_uplink,{tags},name=Pegel\\ Wyk,site=Hafen,decode_status=error "
        f"f_cnt=4 {hour + 120}",
        f"lorawan_uplink,{tags},name=Pegel\\ Wyk,site=Hafen,decode_status=decoded "
        f"f_cnt=5 {hour + 3600 + 60}",
    ]
    _write(influxd, influx_db, lines)
    monkeypatch.setenv("LORAWAN_INFLUX__URL", influxd.url)
    monkeypatch.setenv("LORAWAN_INFLUX__DATABASE", influx_db)
    assert main(["dashboards", "rollup", "--since", "4h"]) == 0
    assert "2 points written" in capsys.readouterr().out
    rows = _rows(influxd, influx_db)
    assert [r["time"] // 10**9 for r in rows] == [hour, hour + 3600]
    first, second = rows
    assert {k: first[k] for k in TAGS} == {
        "application": "city",
        "category": "environment",
        "dev_eui": "A1",
        "device": "d1",
        "model": "dragino/lht65",
        "name": "Pegel Wyk",
        "site": "Hafen",
    }
    # decoded and undecoded uplinks are one stream: 1 -> 4 (2 missed), then 4 -> 5
    assert (first["uplinks"], first["steps"], first["stepped"]) == (2, 3, 1)
    assert (first["f_cnt_first"], first["f_cnt_last"]) == (1, 4)
    assert (second["uplinks"], second["steps"], second["stepped"]) == (1, 1, 1)
    # running it again rewrites the same points (idempotent)
    assert main(["dashboards", "rollup", "--since", "4h"]) == 0
    assert _rows(influxd, influx_db) == rows


def test_rollup_without_influxdb_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LORAWAN_INFLUX__URL", raising=False)
    monkeypatch.setenv("LORAWAN_STORAGE__DATA_DIR", str(tmp_path))
    assert main(["dashboards", "rollup"]) == 2
    assert "LORAWAN_INFLUX__URL" in capsys.readouterr().err


def test_rollup_durations() -> None:
    assert duration("90m") == 5400
    assert duration("3h") == 10800
    assert duration("30d") == 30 * 86400
    for bad in ("3", "0h", "3w", "-1h"):
        with pytest.raises(argparse.ArgumentTypeError, match="90m, 3h or 30d"):
            duration(bad)
