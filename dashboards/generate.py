"""Render the dashboards to ``dashboards/json/*.json`` and compare them with what is committed.

``lorawan-monitor dashboards generate`` writes the files; ``--check`` (and the test suite)
fails when regenerating would change them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from dashboards.boards_city import environment
from dashboards.boards_mobility import tourism, traffic
from dashboards.boards_network import network
from dashboards.grafana import Json, Options

JSON_DIR = Path(__file__).resolve().parent / "json"

#: file stem -> builder (file names are stable; uids are set inside each builder)
BOARDS: dict[str, Callable[[Options], Json]] = {
    "environment": environment,
    "tourism": tourism,
    "traffic": traffic,
    "network": network,
}


def build_all(options: Options | None = None) -> dict[str, Json]:
    """Every dashboard; the committed files are the defaults (German, API on localhost)."""
    o = options or Options()
    return {name: build(o) for name, build in BOARDS.items()}


def render(board: Json) -> str:
    """Deterministic text: sorted keys, two-space indent, UTF-8, trailing newline."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered(options: Options | None = None) -> dict[str, str]:
    return {f"{name}.json": render(board) for name, board in build_all(options).items()}


def write_all(directory: Path = JSON_DIR, options: Options | None = None) -> list[Path]:
    """Write every dashboard; return the files whose content changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in rendered(options).items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale(directory: Path = JSON_DIR, options: Options | None = None) -> list[str]:
    """Files that differ from a fresh generation (missing, changed, or not generated here)."""
    want = rendered(options)
    out = [
        name
        for name, text in want.items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != text
    ]
    extra = sorted(p.name for p in directory.glob("*.json") if p.name not in want)
    return out + extra


def load_committed(directory: Path = JSON_DIR) -> dict[str, Json]:
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))
    }
