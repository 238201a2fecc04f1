"""``lorawan-monitor decode``: decode one payload the way ingest would, for installers.

Prints one JSON object::

    {"model", "f_port", "decoded", "readings": [{"quantity", "value", "unit", "sensor"}],
     "warnings", "error"}

plus ``"normalized"`` when the codec has a ``normalizeUplink``. ``--repository`` (or
``LORAWAN_INGEST__DEVICE_REPOSITORY``) makes every Device Repository model decodable;
``--firmware`` / ``--band`` pick its codec as an uplink's ``version_ids`` would.

Exit codes: 0 decoded, 1 decode error (the JSON is still printed, with ``error``),
2 bad usage (bad hex, bad ``--variables``, unknown model: the message lists the
closest known ids).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from decoders import NATIVE, DecodeError, DecoderCatalog, decode
from decoders.quantities import CATALOGUE

_HEX_JUNK = re.compile(r"[\s:,_-]|0x", re.IGNORECASE)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "decode",
        help="decode one payload (hex) for a model and print the result as JSON",
        description="Decode one uplink payload for a device model and print JSON. "
        "Exit 0 decoded, 1 decode error, 2 bad usage.",
    )
    p.add_argument("--model", required=True, help="model id, e.g. dragino/lht65")
    p.add_argument("--fport", required=True, type=int, help="LoRaWAN f_port (1..223)")
    p.add_argument(
        "payload",
        nargs="+",
        metavar="HEX",
        help="payload in hex; spaces, ':' and '0x' are allowed (\"CB F6 0B 0D\")",
    )
    p.add_argument(
        "--base64",
        action="store_true",
        help="the payload is base64 (as TTS frm_payload / ChirpStack data) instead of hex",
    )
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
        help="local checkout of TheThingsNetwork/lorawan-devices "
        "(default: LORAWAN_INGEST__DEVICE_REPOSITORY)",
    )
    p.add_argument("--firmware", default=None, help="firmware version (Device Repository codecs)")
    p.add_argument("--band", default=None, help="band, e.g. EU_863_870 (Device Repository codecs)")
    p.add_argument(
        "--variables",
        default=None,
        help="device variables as a JSON object, e.g. '{\"mount_height_mm\": 2000}'",
    )
    p.add_argument(
        "--recv-time",
        default=None,
        help="receive time passed to JavaScript codecs (ISO 8601; default now)",
    )
    p.set_defaults(func=run)


def registry_for(codecs: Path | None, repository: Path | None = None) -> DecoderCatalog:
    """The native registry, plus the JS codecs of ``codecs`` (default: the settings'
    folder), plus the Device Repository checkout ``repository`` (default: the setting)."""
    if codecs is None or repository is None:
        from lorawan_monitor.settings import load_settings

        ingest = load_settings().ingest
        codecs = codecs or ingest.codecs_dir
        repository = repository or ingest.device_repository
    registry = NATIVE
    if codecs is not None:
        from decoders.js import load_codecs

        registry = load_codecs(codecs)
    if repository is not None:
        from decoders.repository import with_repository

        registry = with_repository(registry, repository)
    return registry


def _usage(message: str) -> int:
    sys.stderr.write(f"lorawan-monitor decode: {message}\n")
    return 2


def parse_payload(parts: list[str], *, is_base64: bool = False) -> bytes:
    """Hex (with spaces, ':' or '0x' allowed) or base64 -> bytes; ValueError if invalid."""
    text = "".join(parts)
    if is_base64:
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"not valid base64: {exc}") from None
    cleaned = _HEX_JUNK.sub("", text)
    if len(cleaned) % 2:
        raise ValueError(f"odd number of hex digits ({len(cleaned)}) in {text!r}")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        bad = sorted({c for c in cleaned if c not in "0123456789abcdefABCDEF"})
        raise ValueError(f"not hex: {text!r} (unexpected {''.join(bad)!r})") from None


def run(args: argparse.Namespace) -> int:
    try:
        payload = parse_payload(args.payload, is_base64=args.base64)
    except ValueError as exc:
        return _usage(str(exc))
    if not 0 <= args.fport <= 255:
        return _usage(f"--fport must be 0..255, got {args.fport}")
    variables: dict[str, Any] = {}
    if args.variables is not None:
        try:
            loaded = json.loads(args.variables)
        except json.JSONDecodeError as exc:
            return _usage(f"--variables is not valid JSON ({exc})")
        if not isinstance(loaded, dict):
            return _usage("--variables must be a JSON object")
        variables = loaded
    recv_time = None
    if args.recv_time is not None:
        try:
            recv_time = datetime.fromisoformat(args.recv_time)
        except ValueError:
            return _usage(f"--recv-time is not an ISO 8601 time: {args.recv_time!r}")

    registry = registry_for(args.codecs, args.repository)
    versions = {k: v for k, v in (("firmware_version", args.firmware), ("band_id", args.band)) if v}
    decoder = registry.find(args.model, versions)
    if decoder is None:
        close = registry.closest(args.model)
        hint = f"; closest known: {', '.join(close)}" if close else ""
        return _usage(
            f"unknown model {args.model!r}{hint} (`lorawan-monitor decoders` lists them all)"
        )

    out: dict[str, Any] = {
        "model": args.model,
        "f_port": args.fport,
        "decoded": None,
        "readings": [],
        "warnings": [],
        "error": None,
        "error_type": None,
    }
    code = 0
    try:
        result = decode(
            args.model,
            payload,
            args.fport,
            variables,
            catalog=registry,
            recv_time=recv_time,
            decoder=decoder,
        )
    except DecodeError as exc:
        out["error"] = str(exc)
        out["error_type"] = type(exc).__name__
        code = 1
    else:
        out["decoded"] = dict(result.decoded)
        normalized = getattr(result.decoded, "normalized", None)
        if normalized is not None:  # the codec's normalizeUplink output (repository schema)
            out["normalized"] = normalized
        out["readings"] = [
            {
                "quantity": r.quantity.value,
                "value": r.value,
                "unit": CATALOGUE[r.quantity].unit,
                "sensor": r.sensor,
            }
            for r in result.readings
        ]
        out["warnings"] = list(result.warnings)
    sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False, default=str) + "\n")
    return code
