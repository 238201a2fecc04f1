"""The smaller OpenData points of issue #14: German dates and categories on the command
line, --to before --from in plain words, the placeholder publisher refused, the metadata
stable across runs with an inclusive endDate. Same simulated week as test_export."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest

from lorawan_monitor import cli
from opendata.config import OpenDataSettings
from opendata.dcat import dataset_jsonld, validate
from opendata.service import build_export
from tests.opendata import test_export
from tests.opendata.test_export import NOW, World

world = test_export.world  # the same fixture: a simulated week in real SQLite stores


def _rows(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "data.csv").open(encoding="utf-8")))


def test_german_dates_and_category_names(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    english, german = tmp_path / "en", tmp_path / "de"
    assert cli.main(["export", "--category", "tourism", "--from", "2026-03-29",
                     "--to", "2026-03-30", "--format", "csv", "--out", str(english)]) == 0  # fmt: skip
    assert cli.main(["export", "--category", "Tourismus", "--from", "29.03.2026",
                     "--to", "30.3.2026", "--format", "csv", "--out", str(german)]) == 0  # fmt: skip
    assert _rows(german) == _rows(english) and _rows(german)
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:  # argparse: exit 2 with the message
        cli.main(["export", "--category", "umwelten", "--from", "2026-03-29",
                  "--to", "2026-03-30", "--out", str(tmp_path / "x")])  # fmt: skip
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown category 'umwelten'" in err and "environment (umwelt)" in err
    with pytest.raises(SystemExit):
        cli.main(["export", "--from", "31.02.2026", "--to", "2026-03-30", "--out", "x"])
    err = capsys.readouterr().err
    assert "'31.02.2026' is not a date: use YYYY-MM-DD or DD.MM.YYYY" in err
    assert "fromisoformat" not in err


def test_to_before_from_is_a_usage_error(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["export", "--from", "2026-03-30", "--to", "2026-03-29",
                     "--out", str(tmp_path / "x")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "configuration error" not in err
    assert "lorawan-monitor export: --to (2026-03-29) must be after --from (2026-03-30)" in err
    assert "--from 2026-03-30 --to 2026-03-31" in err


def test_placeholder_publisher_fails_validation_and_dry_run(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("LORAWAN_OPENDATA__PUBLISHER_NAME")
    cfg = OpenDataSettings()
    export = build_export(world.store, world.registry, cfg, first=NOW.date().replace(day=23),
                          end=NOW.date(), interval="1d", now=NOW)  # fmt: skip
    problems = validate(dataset_jsonld(export, cfg))
    assert any("LORAWAN_OPENDATA__PUBLISHER_NAME" in p for p in problems), problems
    code = cli.main(["opendata", "publish", "--portal", "http://127.0.0.1:9", "--dataset", "x",
                     "--from", "2026-03-23", "--to", "2026-03-30", "--dry-run"])  # fmt: skip
    assert code == 1
    assert "still the placeholder" in capsys.readouterr().err


def test_metadata_is_stable_across_runs_and_end_date_inclusive(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["export", "--from", "2026-03-23", "--to", "2026-03-30", "--format", "csv"]
    assert cli.main([*args, "--out", str(tmp_path / "a")]) == 0
    assert cli.main([*args, "--out", str(tmp_path / "b")]) == 0  # another run, later clock
    a = (tmp_path / "a" / "metadata.jsonld").read_bytes()
    assert a == (tmp_path / "b" / "metadata.jsonld").read_bytes()
    cfg = OpenDataSettings()
    first, end = NOW.date().replace(day=23), NOW.date().replace(day=30)
    docs = [
        dataset_jsonld(build_export(world.store, world.registry, cfg, first=first, end=end,
                                    interval="1d", now=NOW + timedelta(hours=h)), cfg)
        for h in (0, 30)
    ]  # fmt: skip
    assert docs[0] == docs[1]  # the export's clock does not reach the metadata
    doc = json.loads(a)
    assert doc["dct:temporal"]["dcat:endDate"]["@value"] == "2026-03-29"  # last day included
    assert "dct:issued" not in doc  # not stated unless configured; never the clock
    monkeypatch.setenv("LORAWAN_OPENDATA__ISSUED", "2026-01-15")
    assert cli.main([*args, "--out", str(tmp_path / "c")]) == 0
    doc = json.loads((tmp_path / "c" / "metadata.jsonld").read_bytes())
    assert doc["dct:issued"]["@value"] == "2026-01-15"
