"""``lorawan-monitor settings``: validate the settings and print them (secrets masked)."""

from __future__ import annotations

import argparse
import json
import sys

from lorawan_monitor.settings import load_settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "settings",
        help="validate the settings and print them (secrets masked)",
        description="Validate every LORAWAN_* setting (environment, LORAWAN_CONFIG_FILE, "
        "/run/secrets) and print the result as JSON, OpenData settings included; exit 2 "
        "naming each bad or unknown variable.",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from lorawan_monitor.errors import ConfigError
    from opendata.config import OpenDataSettings

    out = load_settings().model_dump(mode="json")
    try:  # the OpenData block is its own model (LORAWAN_OPENDATA__*), shown with the rest
        out["opendata"] = OpenDataSettings().model_dump(mode="json")
    except ValidationError as exc:
        raise ConfigError(f"LORAWAN_OPENDATA__*: {exc}") from exc
    sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
    return 0
