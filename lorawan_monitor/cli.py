"""The ``lorawan-monitor`` command line: one entry point, one module per subcommand.

Each module in ``lorawan_monitor/commands/`` exposes ``add_parser(subparsers)`` (which
sets ``func`` on its parser) and returns nothing; ``func(args) -> int`` is the exit code.
Exit codes: 0 ok, 1 the operation failed (e.g. decode error), 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from lorawan_monitor.errors import ConfigError, UsageError

#: subcommand modules, in help order (explicit list: greppable, no plugin discovery)
COMMANDS = (
    "run",
    "ingest",
    "simulate",
    "demo",
    "api",
    "decode",
    "decoders",
    "devices",
    "redecode",
    "retag",
    "refill",
    "dashboards",
    "export",
    "opendata",
    "settings",
    "alerts",
)

log = logging.getLogger("lorawan_monitor")


def _named_command(argv: Sequence[str] | None) -> str | None:
    """The subcommand in ``argv`` when it names one (the first argument that is not an
    option): only its module is imported then — ``ingest --workers N``'s supervisor stays
    light, and every command starts faster."""
    args = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in args if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lorawan-monitor",
        description="LoRaWAN sensor data: ingest from The Things Stack / ChirpStack, "
        "decode, store, serve and publish.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        # every listed command must import: a broken module is an error, never a missing command
        module = importlib.import_module(f"lorawan_monitor.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(_named_command(argv))
    args = parser.parse_args(argv)
    # a worker of ``ingest --workers N`` names itself in every line (#20)
    worker = os.environ.get("LORAWAN_WORKER_NAME", "").replace("%", "")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s "
        + (f"[{worker}] " if worker else "")
        + "%(name)s: %(message)s",
    )
    # one line per HTTP request is noise at INFO (write batches are counted in /metrics)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        from lorawan_monitor.envcheck import check_environment

        check_environment()  # a misspelt LORAWAN_* variable must not be silently ignored
        return int(args.func(args))
    except ConfigError as exc:
        sys.stderr.write(f"lorawan-monitor: configuration error: {exc}\n")
        return 2
    except UsageError as exc:
        sys.stderr.write(f"lorawan-monitor {args.command}: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
