"""``lorawan-monitor dashboards generate|push``: Grafana dashboards as code.

``generate`` writes ``dashboards/json/*.json`` from the Python definitions and the quantity
catalogue (``--check`` only reports differences, exit 1). ``push`` upserts them into an
existing Grafana folder with a service-account token, idempotently.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


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
    push.set_defaults(func=run_push)


def run_generate(args: argparse.Namespace) -> int:
    from dashboards import env_example
    from dashboards.generate import JSON_DIR, stale, write_all

    directory: Path = args.dir or JSON_DIR
    # .env.example only in a source checkout (it is generated from the compose files too)
    with_env = args.dir is None and env_example.COMPOSE_FILES[0].is_file()
    if args.check:
        out = [str(directory / name) for name in stale(directory)]
        env = env_example.ENV_EXAMPLE
        if with_env and (not env.is_file() or env.read_text("utf-8") != env_example.render()):
            out.append(str(env))
        for name in out:
            sys.stderr.write(f"stale: {name}\n")
        return 1 if out else 0
    for path in write_all(directory):
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
        results = push(connect(args.url, args.token, args.timeout), build_all(), args.folder)
    except GrafanaPushError as exc:
        sys.stderr.write(f"dashboards push: {exc}\n")
        return 1
    for r in results:
        sys.stdout.write(f"{r.action:9} {r.uid:24} version {r.version}  {r.title}\n")
    return 0
