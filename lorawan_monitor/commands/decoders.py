"""``lorawan-monitor decoders``: list the supported device models (table or ``--json``).

One row per model id: id, vendor, model, category, f_ports, canonical quantities and
whether a native (Python) decoder or a JavaScript codec serves it. JavaScript codecs
come from ``--codecs DIR`` or ``LORAWAN_INGEST__CODECS_DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from decoders import Decoder, DecoderRegistry
from decoders.base import DecoderInfo
from lorawan_monitor.commands.decode import registry_for


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("decoders", help="list the supported device models")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.add_argument(
        "--codecs",
        type=Path,
        default=None,
        help="folder of JavaScript codecs with codecs.yaml (default: LORAWAN_INGEST__CODECS_DIR)",
    )
    p.add_argument(
        "--repository",
        type=Path,
        default=None,
        help="also list what resolves in this checkout of TheThingsNetwork/lorawan-devices "
        "(default: LORAWAN_INGEST__DEVICE_REPOSITORY)",
    )
    p.set_defaults(func=run)


def describe(model_id: str, decoder: Decoder) -> DecoderInfo:
    """What a listing shows about one registered model."""
    quantities = {f.quantity.value for f in decoder.fields}
    # decoders that normalize in code may declare their quantities instead of a table
    declared = getattr(decoder, "quantities", ())
    quantities.update(str(getattr(q, "value", q)) for q in declared)
    return DecoderInfo(
        model_id=model_id,
        vendor=decoder.vendor,
        model_name=decoder.model_name,
        category=decoder.category,
        ports=tuple(decoder.ports),
        quantities=tuple(sorted(quantities)),
        kind=str(getattr(decoder, "kind", "native")),
        description=decoder.description,
    )


def describe_all(registry: DecoderRegistry) -> list[DecoderInfo]:
    return [describe(model_id, decoder) for model_id, decoder in registry.items()]


def _table(infos: list[DecoderInfo]) -> str:
    header = ("MODEL ID", "VENDOR", "MODEL", "CATEGORY", "PORTS", "QUANTITIES", "KIND", "NOTE")
    rows = [header] + [
        (
            i.model_id,
            i.vendor,
            i.model_name,
            i.category,
            ",".join(str(p) for p in i.ports) or "any",
            ", ".join(i.quantities) or "-",
            i.kind,
            i.description if i.kind.startswith(("repository", "javascript (")) else "",
        )
        for i in infos
    ]
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[c]) for c, cell in enumerate(r)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def repository_infos(registry: DecoderRegistry) -> list[DecoderInfo]:
    """One row per Device Repository model without a native or codecs-folder decoder:
    how it resolves (codec file, firmware, band) or why it does not. Nothing compiled."""
    from decoders.repository import RepositoryRegistry, ResolutionError

    if not isinstance(registry, RepositoryRegistry):
        return []
    rows = []
    for model_id in registry.repository.model_ids():
        if model_id in registry.items_ids():
            continue
        try:
            found = registry.resolve(model_id)
        except ResolutionError as exc:
            kind, text, vendor, name = "repository (unresolved)", str(exc), "", ""
        else:
            if found is None:
                continue
            vendor, name = found.vendor_name, found.model_name
            if found.js_file is None:
                kind, text = "repository (no codec)", f"profile {found.profile}: no codec"
            else:
                kind = "repository"
                text = (
                    f"{found.js_file.name} (codec {found.codec_id}, firmware {found.firmware}, "
                    f"{found.band})" + "".join(f"; {n}" for n in found.notes)
                )
        rows.append(
            DecoderInfo(
                model_id=model_id,
                vendor=vendor,
                model_name=name,
                category="",
                ports=(),
                quantities=(),
                kind=kind,
                description=text,
            )
        )
    return rows


def run(args: argparse.Namespace) -> int:
    registry = registry_for(args.codecs, args.repository)
    infos = describe_all(registry) + repository_infos(registry)
    if args.json:
        data = [
            {
                "id": i.model_id,
                "vendor": i.vendor,
                "model": i.model_name,
                "category": i.category,
                "ports": list(i.ports),
                "quantities": list(i.quantities),
                "kind": i.kind,
                "description": i.description,
            }
            for i in infos
        ]
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(_table(infos))
    return 0
