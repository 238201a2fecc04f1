"""``lorawan-monitor opendata publish``: create or update the dataset on a CKAN portal.

    lorawan-monitor opendata publish --portal https://opendata.schleswig-holstein.de \\
        --api-key-file /run/secrets/ckan --dataset lorawan-umwelt --org amt-foehr-amrum \\
        --from 2026-03-23 --to 2026-04-01 [--category environment] [--urls] [--dry-run]

Idempotent: a second run with the same data changes nothing. ``--dry-run`` prints what
would be sent. The DCAT-AP.de metadata is validated first; problems stop the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from lorawan_monitor.commands.export import add_export_args, make_export
from lorawan_monitor.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("opendata", help="publish the OpenData export to a CKAN portal")
    osub = p.add_subparsers(dest="opendata_command", metavar="ACTION", required=True)
    pub = osub.add_parser("publish", help="create or update the CKAN dataset and its files")
    add_export_args(pub)
    pub.add_argument("--portal", required=True, help="CKAN base URL")
    pub.add_argument("--api-key-file", type=Path, help="file holding the publisher's API key")
    pub.add_argument("--dataset", required=True, help="CKAN dataset name (lowercase, - and _)")
    pub.add_argument("--org", help="owner organisation (CKAN owner_org)")
    pub.add_argument("--urls", action="store_true",
                     help="link stable URLs of this API instead of uploading files")  # fmt: skip
    pub.add_argument("--dry-run", action="store_true", help="print what would be sent")
    pub.set_defaults(func=run_publish)


def run_publish(args: argparse.Namespace) -> int:
    from opendata.ckan import CkanClient, CkanError, execute, plan
    from opendata.dcat import dataset_jsonld, validate
    from opendata.files import write_export

    key = None
    if args.api_key_file is not None:
        try:
            key = args.api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"--api-key-file: {exc}") from exc
    elif not args.dry_run:
        raise ConfigError("--api-key-file is required (except with --dry-run)")
    export, cfg = make_export(args)
    problems = (
        validate(dataset_jsonld(export, cfg))
        if args.urls
        else [p for p in validate(dataset_jsonld(export, cfg)) if "accessURL" not in p]
    )  # uploaded files get their access URL from the portal
    if problems:
        sys.stderr.write("metadata not acceptable:\n  " + "\n  ".join(problems) + "\n")
        return 1
    client = CkanClient(args.portal, key)
    try:
        with tempfile.TemporaryDirectory(prefix="lm-opendata-") as d:
            files = write_export(export, cfg, Path(d))
            try:
                p = plan(client, args.dataset, export, cfg, files, owner_org=args.org,
                         use_urls=args.urls)  # fmt: skip
            except CkanError as exc:
                if not args.dry_run:
                    raise
                sys.stdout.write(f"(portal not readable: {exc}; planning a first publication)\n")
                p = plan(None, args.dataset, export, cfg, files, owner_org=args.org,
                         use_urls=args.urls)  # fmt: skip
            for a in p.actions:
                sys.stdout.write(("would send: " if args.dry_run else "") + a.describe() + "\n")
            if p.unchanged:
                sys.stdout.write("unchanged: " + ", ".join(p.unchanged) + "\n")
            if not args.dry_run:
                results = execute(client, p)
                sys.stdout.write(
                    f"published {args.dataset}: {len(results)} change(s)\n"
                    + (
                        json.dumps([r.get("id") for r in results if isinstance(r, dict)]) + "\n"
                        if results
                        else ""
                    )  # fmt: skip
                )
    except CkanError as exc:
        sys.stderr.write(f"lorawan-monitor: {exc}\n")
        return 1
    finally:
        client.close()
    return 0
