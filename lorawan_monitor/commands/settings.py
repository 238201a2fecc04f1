"""``lorawan-monitor settings``: validate the settings and print them (secrets masked)."""

from __future__ import annotations

import argparse
import json
import sys

from lorawan_monitor.settings import load_settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("settings", help="validate the settings and print them (secrets masked)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    s = load_settings()
    sys.stdout.write(json.dumps(s.model_dump(mode="json"), indent=2, default=str) + "\n")
    return 0
