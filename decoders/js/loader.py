"""Loading a codecs folder: the mapping file's codecs, each a :class:`JsCodecDecoder`,
or a :class:`BrokenCodec` where it does not load (unless strict)."""

from __future__ import annotations

import logging
from pathlib import Path

from decoders.base import Decoder
from decoders.catalog import NATIVE, DecoderCatalog
from decoders.js.decoder import BrokenCodec, JsCodecDecoder
from decoders.js_mapping import MAPPING_FILE, CodecEntry, load_mapping
from lorawan_monitor.errors import ConfigError

log = logging.getLogger(__name__)


def codec_from_entry(entry: CodecEntry) -> JsCodecDecoder:
    return JsCodecDecoder.from_source(
        entry.source,
        model_ids=entry.model_ids,
        filename=entry.file.name,
        interface=entry.interface,
        timeout_ms=entry.timeout_ms,
        memory_mb=entry.memory_mb,
        fields=entry.fields,
        common_keys=entry.common_keys,
        vendor=entry.vendor,
        model_name=entry.model_name,
        category=entry.category,
        ports=entry.ports,
        description=entry.description,
    )


def load_codecs(
    folder: Path | str, *, base: DecoderCatalog = NATIVE, strict: bool = False
) -> DecoderCatalog:
    """A copy of ``base`` (the native catalog) with the folder's JS codecs added.

    A codec may take a native model id only when its mapping says ``override: true``.
    Problems of the mapping file raise ConfigError naming the file and the problem. A
    codec that does not compile or whose top-level code fails disables that codec only
    (a :class:`BrokenCodec` takes its model ids, and an ERROR is logged), unless
    ``strict`` (``LORAWAN_INGEST__CODECS_STRICT``) asks to refuse at start.
    """
    folder = Path(folder)
    entries = load_mapping(folder)
    mapped = {e.file.name for e in entries}
    for stray in sorted(p.name for p in folder.glob("*.js")):
        if stray not in mapped:
            log.warning("codec %s is not listed in %s; ignored", folder / stray, MAPPING_FILE)
    catalog = base.copy()
    for entry in entries:
        for model_id in entry.model_ids:
            if model_id in base and not entry.override:
                raise ConfigError(
                    f"{folder / MAPPING_FILE}: {entry.file.name} maps {model_id!r}, which has a "
                    "native decoder; set 'override: true' to replace it"
                )
    for entry in entries:
        decoder: Decoder
        try:
            decoder = codec_from_entry(entry)
        except ConfigError as exc:
            if strict:
                raise ConfigError(
                    f"{exc} (LORAWAN_INGEST__CODECS_STRICT is set: refusing to start)"
                ) from exc
            log.error(
                "CODEC DISABLED: %s (models %s get decode status codec_error until it is "
                "fixed; set LORAWAN_INGEST__CODECS_STRICT=true to refuse to start instead)",
                exc,
                ", ".join(entry.model_ids),
            )
            decoder = BrokenCodec.create(
                str(exc), model_ids=entry.model_ids, vendor=entry.vendor, name=entry.file.name
            )
        for model_id in entry.model_ids:
            catalog.add(model_id, decoder, replace=True)
    return catalog


def disabled_codecs(catalog: DecoderCatalog) -> dict[str, str]:
    """model id -> reason, for every model whose codec is disabled."""
    return {m: d.error for m, d in catalog.items() if isinstance(d, BrokenCodec)}
