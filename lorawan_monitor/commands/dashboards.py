"""``lorawan-monitor dashboards generate|push|rollup``: Grafana dashboards as code.

``generate`` writes ``dashboards/json/*.json`` from the Python definitions and the quantity
catalogue (``--check`` only reports differences, exit 1). ``push`` upserts them into an
existing Grafana folder with a service-account token, idempotently. ``rollup`` fills the
hourly uplink rollup the frame-loss panels read (``lorawan_monitor/commands/rollup.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lorawan_monitor.commands import rollup

if TYPE_CHECKING:
    from dashboards.grafana import Options


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dashboards", help="generate the Grafana dashboards or push them to Grafana")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    gen = actions.add_parser(
        "generate", help="write dashboards/json/*.json and .env.example (in a checkout)"
    )
    gen.add_argument("--dir", type=Path, default=None, help="output folder (default: the repo's)")
    gen.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the files are stale"
    )
    _add_board_options(gen)
    gen.set_defaults(func=run_generate)

    push = actions.add_parser("push", help="create or update the dashboards in a Grafana")
    push.add_argument(
        "--url", default=os.environ.get("GRAFANA_URL"), help="Grafana URL (env GRAFANA_URL)"
    )
    push.add_argument(
        "--token",
        default=os.environ.get("GRAFANA_TOKEN"),
        help="service-account token with the Editor role (env GRAFANA_TOKEN)",
    )
    push.add_argument("--folder", default="LoRaWAN", help="folder title (created if missing)")
    push.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout in seconds")
    _add_board_options(push)
    push.set_defaults(func=run_push)
    rollup.add_action(actions)


def _flood_mark(text: str) -> tuple[str, tuple[float, ...]]:
    site, sep, values = text.rpartition("=")
    try:
        marks = tuple(float(v) for v in values.split(",") if v.strip())
    except ValueError:
        marks = ()
    if not sep or not site.strip() or not marks:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected SITE=LEVEL[,LEVEL...] in metres, e.g. 'Wyk Hafen=2.5,3.0'"
        )
    return site.strip(), marks


def _add_board_options(p: argparse.ArgumentParser) -> None:
    """What the dashboards say and link to (the committed files use the defaults)."""
    p.add_argument(
        "--lang", choices=("de", "en"), default="de", help="language of titles and texts"
    )
    p.add_argument(
        "--api-url",
        default="http://localhost:8080",
        help="REST API / installer page as a browser reaches it (device and OpenData links)",
    )
    p.add_argument(
        "--flood-mark",
        type=_flood_mark,
        action="append",
        default=[],
        metavar="SITE=M[,M...]",
        help="water-level marks of a site in m, drawn on the water-level panel (repeatable)",
    )


def board_options(args: argparse.Namespace) -> Options:
    from dashboards.grafana import Options

    if not args.api_url.startswith(("http://", "https://")):
        raise SystemExit(
            f"dashboards: --api-url must start with http:// or https://: {args.api_url!r}"
        )
    return Options(
        lang=args.lang, api_url=args.api_url.rstrip("/"), flood_marks=dict(args.flood_mark)
    )


def run_generate(args: argparse.Namespace) -> int:
    from dashboards import env_example
    from dashboards.generate import JSON_DIR, stale, write_all

    options = board_options(args)
    directory: Path = args.dir or JSON_DIR
    # .env.example only in a source checkout (it is generated from the compose files too)
    with_env = args.dir is None and env_example.COMPOSE_FILES[0].is_file()
    if args.check:
        out = [str(directory / name) for name in stale(directory, options)]
        env = env_example.ENV_EXAMPLE
        if with_env and (not env.is_file() or env.read_text("utf-8") != env_example.render()):
            out.append(str(env))
        for name in out:
            sys.stderr.write(f"stale: {name}\n")
        return 1 if out else 0
    for path in write_all(directory, options):
        sys.stdout.write(f"wrote {path}\n")
    if with_env and env_example.write():
        sys.stdout.write(f"wrote {env_example.ENV_EXAMPLE}\n")
    return 0


def run_push(args: argparse.Namespace) -> int:
    from dashboards.generate import build_all
    from dashboards.push import GrafanaPushError, connect, push

    if not args.url or not args.token:
        sys.stderr.write(
            "dashboards push: --url and --token (or GRAFANA_URL/GRAFANA_TOKEN) needed\n"
        )
        return 2
    try:
        results = push(
            connect(args.url, args.token, args.timeout), build_all(board_options(args)), args.folder
        )
    except GrafanaPushError as exc:
        sys.stderr.write(f"dashboards push: {exc}\n")
        return 1
    for r in results:
        sys.stdout.write(f"{r.action:9} {r.uid:24} version {r.version}  {r.title}\n")
    return 0
