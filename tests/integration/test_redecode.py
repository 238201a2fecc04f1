"""``lorawan-monitor redecode`` with real influxd and a real (SQLite) registry (issue #6).

A ChirpStack device whose model nobody told us sends LHT65 frames: they are journaled
but give no readings. An installer then assigns the model (a registry model override);
``redecode`` turns the journaled uplinks into readings — the same points ingest would
have written — and a second run changes nothing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ingest.models import RawMessage
from ingest.service import IngestService
from lorawan_monitor.cli import main
from simulator.fleet import VirtualDevice, _eui, default_fleet, generate
from storage.influx import InfluxStore
from storage.registry import SqlRegistry
from storage.registry_base import DeviceMeta
from tests.integration.helpers import (
    count_points,
    diff,
    expected_points,
    influx_points,
    settings_for,
)
from tests.servers import Influxd

pytestmark = pytest.mark.integration
MODEL = "dragino/lht65"
WINDOW = ["--from", "2026-05-31", "--to", "2026-07-01T00:00:00Z"]


def _fleet() -> tuple[list[VirtualDevice], VirtualDevice]:
    known = [d for d in default_fleet(8, networks=("chirpstack",)) if d.behaviour == "lht65"]
    unknown = VirtualDevice(
        name="sim-unassigned-001",
        dev_eui=_eui("sim-unassigned-001"),
        network="chirpstack",
        behaviour="lht65",
        model_id=None,  # no device-profile name or model tag: ingest cannot know the model
    )
    return [*known, unknown], unknown


def _quantity_counts(influxd: Influxd, db: str, quantities: set[str]) -> dict[str, int]:
    return {q: count_points(influxd, db, q) for q in sorted(quantities)}


def test_redecode_turns_journaled_failures_into_readings_once(
    influxd: Influxd,
    influx_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet, unknown = _fleet()
    messages = list(generate(fleet, count=90, seed=31))
    failing = [msg for msg in messages if msg.device == unknown.dev_eui.lower()]
    assert len(failing) == 30

    # ingest: the unknown device's uplinks are rejected (no decoder) but journaled
    settings = settings_for(1, influxd.url, influx_db, tmp_path)
    registry = SqlRegistry(settings.storage.registry_dsn())
    service = IngestService(settings, store=InfluxStore(settings.influx), registry=registry)
    service.start(mqtt=False)
    for msg in messages:
        service.feed(RawMessage(topic=msg.topic, payload=msg.payload))
    assert service.wait_idle(30)
    service.stop()
    assert service.outcomes[("rejected", "no_decoder")] == len(failing)
    key = unknown.dev_eui.upper()
    dev = registry.get_device(key)
    assert dev is not None and dev.last_status == "no_decoder" and dev.last_readings == ()
    assert {e.status for e in registry.journal(key, limit=100)} == {"no_decoder"}

    expected = expected_points(messages)
    quantities = {k[0] for k in expected}
    d = diff(expected, influx_points(influxd, influx_db, quantities))
    assert d["missing"] == 3 * len(failing) and d["extra"] == 0, d
    uplink_points = count_points(influxd, influx_db, "lorawan_uplink", "f_cnt")
    assert uplink_points == len(messages)

    # the installer assigns the model later
    registry.update_meta(key, DeviceMeta(model_override=MODEL))
    env = {
        "LORAWAN_INFLUX__URL": influxd.url,
        "LORAWAN_INFLUX__DATABASE": influx_db,
        "LORAWAN_STORAGE__DATA_DIR": str(tmp_path),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    # dry run, one device: reports, writes nothing
    argv = ["redecode", "--model", MODEL, *WINDOW, "--device", unknown.dev_eui.lower()]
    assert main([*argv, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{len(failing)} uplinks of 1 devices: {len(failing)} decoded" in out
    assert f"would write {3 * len(failing)} points" in out
    assert diff(expected, influx_points(influxd, influx_db, quantities))["missing"] == 90
    assert registry.get_device(key).last_status == "no_decoder"  # type: ignore[union-attr]

    # the real run over the whole model: progress every 20 uplinks, then a summary
    assert main(["redecode", "--model", MODEL, *WINDOW, "--every", "20"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("redecode: ") == 5  # 90 uplinks / 20, rounded up
    assert (
        f"{len(messages)} uplinks of {len(fleet)} devices: {len(messages)} decoded" in captured.out
    )
    assert f"{len(failing)} changed status" in captured.out
    assert f"wrote {3 * len(messages)} points" in captured.out

    d = diff(expected, influx_points(influxd, influx_db, quantities))
    assert d["missing"] == 0 and d["extra"] == 0 and d["n_wrong"] == 0, d
    # the radio point is not written again (no second series with another decode_status)
    assert count_points(influxd, influx_db, "lorawan_uplink", "f_cnt") == uplink_points
    models = influxd.query(
        f'SHOW TAG VALUES FROM "temperature" WITH KEY = "model" WHERE "device" = '
        f"'{unknown.dev_eui.lower()}'",
        db=influx_db,
    )
    assert [v[1] for v in models["results"][0]["series"][0]["values"]] == [MODEL]

    dev = registry.get_device(key)
    assert dev is not None and dev.last_status == "decoded" and dev.last_error is None
    assert dev.decoder == f"native:{MODEL}"
    last = failing[-1].expected
    assert sorted(dev.last_readings) == sorted((e.quantity, e.sensor, e.value) for e in last)
    assert Counter(e.status for e in registry.journal(key, limit=100)) == {"decoded": 30}
    assert dev.uplink_count == len(failing)  # counters are not touched

    # twice: nothing changes
    before = _quantity_counts(influxd, influx_db, quantities)
    assert main(["redecode", "--model", MODEL, *WINDOW]) == 0
    assert "0 changed status" in capsys.readouterr().out
    assert _quantity_counts(influxd, influx_db, quantities) == before
    assert count_points(influxd, influx_db, "lorawan_uplink", "f_cnt") == uplink_points
    registry.close()


def test_redecode_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LORAWAN_STORAGE__DATA_DIR", str(tmp_path))
    assert main(["redecode", "--model", "acme/nope", *WINDOW]) == 2
    assert "no decoder for model 'acme/nope'" in capsys.readouterr().err
    assert main(["redecode", "--model", MODEL, "--from", "2026-06-02", "--to", "2026-06-01"]) == 2
    with pytest.raises(SystemExit):
        main(["redecode", "--model", MODEL, "--from", "yesterday", "--to", "2026-06-01"])
