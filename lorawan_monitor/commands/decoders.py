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

from decoders import Decoder, DecoderCatalog
from decoders.base import DecoderInfo
from lorawan_monitor.commands.decode import registry_for


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "decoders",
        help="list the supported device models",
        description="List every device model with a decoder: its id (as used in devices "
        "files, ChirpStack tags and TTS version_ids), category, kind (native Python decoder "
        "or JavaScript codec), f_ports, vendor, name and the quantities it yields. "
        "--json gives the same for machines.",
    )
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


def describe_all(registry: DecoderCatalog) -> list[DecoderInfo]:
    return [describe(model_id, decoder) for model_id, decoder in registry.items()]


#: the table fits a terminal of this width (a phone's SSH app, a narrow window)
WIDTH = 100


def _table(infos: list[DecoderInfo]) -> str:
    """Per model one line (id, category, ports, kind), then its name and quantities,
    wrapped and indented, so the listing fits WIDTH columns however long the lists are."""
    import textwrap

    def ports(i: DecoderInfo) -> str:
        text = ",".join(str(p) for p in i.ports) or "any"
        return text if len(text) <= 14 else text[:13] + "…"

    id_w = max([len("MODEL ID")] + [len(i.model_id) for i in infos])
    lines = [f"{'MODEL ID':<{id_w}}  {'CATEGORY':<11}  {'PORTS':<14}  KIND"]
    for i in infos:
        lines.append(f"{i.model_id:<{id_w}}  {i.category:<11}  {ports(i):<14}  {i.kind}")
        text = f"{i.vendor} {i.model_name}: " + (", ".join(i.quantities) or "-")
        lines += textwrap.wrap(text, WIDTH, initial_indent="    ", subsequent_indent="      ")
        if i.kind.startswith(("repository", "javascript (")) and i.description:
            lines += textwrap.wrap(
                i.description, WIDTH, initial_indent="      ", subsequent_indent="      "
            )
    return "\n".join(lines) + "\n"


def repository_infos(registry: DecoderCatalog) -> list[DecoderInfo]:
    """One row per Device Repository model without a native or codecs-folder decoder:
    how it resolves (codec file, firmware, band) or why it does not. Nothing compiled."""
    from decoders.repository import RepositoryCatalog, ResolutionError

    if not isinstance(registry, RepositoryCatalog):
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
