"""`lorawan-monitor refill` against a TTS Storage Integration stand-in (HTTP boundary),
writing into a real InfluxDB (issue #6)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulator.fleet import default_fleet, generate
from tests.integration.helpers import diff, expected_points, influx_points
from tests.integration.tts_storage_standin import TtsStorageStandin
from tests.servers import Influxd

pytestmark = pytest.mark.integration


@pytest.fixture
def standin() -> Iterator[TtsStorageStandin]:
    s = TtsStorageStandin()
    s.start()
    yield s
    s.stop()


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lorawan_monitor.cli", "refill", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_refill_command_fetches_and_writes_idempotently_standin(
    standin: TtsStorageStandin, influxd: Influxd, influx_db: str, tmp_path: Path
) -> None:
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    messages = list(generate(default_fleet(6, networks=("tts",)), start=start, count=90, seed=4))
    for m in messages:
        standin.store(m.payload)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
    env.update(
        LORAWAN_TTS__API_URL=standin.url,
        LORAWAN_TTS__API_KEY=standin.api_key,
        LORAWAN_TTS__PAGE_SIZE="20",
        LORAWAN_INFLUX__URL=influxd.url,
        LORAWAN_INFLUX__DATABASE=influx_db,
        LORAWAN_STORAGE__DATA_DIR=str(tmp_path),
    )
    r = _run(env, "--application", "municipal-sensors", "--since", "4h")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "refilled 90 uplinks" in r.stdout
    expected = expected_points(messages)
    got = influx_points(influxd, influx_db, {k[0] for k in expected})
    d = diff(expected, got)
    assert d["missing"] == 0 and d["extra"] == 0 and d["n_wrong"] == 0, repr(d)

    again = _run(env, "--application", "municipal-sensors", "--since", start.isoformat())
    assert again.returncode == 0 and "refilled 90 uplinks" in again.stdout
    assert influx_points(influxd, influx_db, {k[0] for k in expected}) == got

    bad = dict(env, LORAWAN_TTS__API_KEY="NNSXS.WRONG")
    r = _run(bad, "--application", "municipal-sensors", "--since", "1h")
    assert r.returncode == 1 and "refused the API key" in r.stderr, r.stderr[-500:]
