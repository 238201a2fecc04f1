"""Envelope parsers: one MQTT message from a LoRaWAN network server -> Uplink | DeviceEvent.

    from ingest.envelopes import parse
    parsed = parse(topic, payload)            # kind="auto": told by topic, then payload
    parsed = parse(topic, payload, "tts")     # or "chirpstack" (v4) / "chirpstack-v3"

Anything malformed raises :class:`~lorawan_monitor.errors.EnvelopeError` and nothing
else. ``received`` (unix seconds, the MQTT receive time) is used only where the message
has no server time at all: ChirpStack v3 ``json_v3`` uplinks without gateway metadata.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ingest.envelopes import chirpstack, chirpstack_v3, tts
from ingest.envelopes.base import Envelope, Parsed, is_uuid
from lorawan_monitor.errors import EnvelopeError

Kind = Literal["tts", "chirpstack", "chirpstack-v3", "auto"]

PARSERS: dict[str, Envelope] = {
    "tts": tts.parse,
    "chirpstack": chirpstack.parse,
    "chirpstack-v3": chirpstack_v3.parse,
}

__all__ = ["PARSERS", "EnvelopeError", "Kind", "detect", "parse"]


def detect(topic: str, payload: bytes) -> str:
    """Tell the network server: by topic (``v3/…`` TTS, ``application/<uuid>/…`` ChirpStack
    v4, ``application/<int>/…`` ChirpStack v3), else by payload keys."""
    if topic.startswith("v3/"):
        return "tts"
    if topic.startswith("application/"):
        app = topic[12:].partition("/")[0]
        if app.isdigit():
            return "chirpstack-v3"
        if is_uuid(app):
            return "chirpstack"
    if payload[:1] == b"{":
        head = payload[:4096]
        if b'"deduplicationId"' in head or b'"deviceInfo"' in head:
            return "chirpstack"
        if b'"applicationID"' in head:
            return "chirpstack-v3"
        if b'"end_device_ids"' in head:
            return "tts"
    raise EnvelopeError(f"unknown topic {topic!r}: neither The Things Stack nor ChirpStack")


def parse(
    topic: str,
    payload: bytes,
    kind: Kind = "auto",
    *,
    received: float | None = None,
) -> Parsed:
    """Parse one message; raises only EnvelopeError."""
    if kind == "auto":
        kind = detect(topic, payload)  # type: ignore[assignment]
    parser = PARSERS.get(kind)
    if parser is None:
        raise EnvelopeError(f"unknown envelope kind {kind!r}")
    try:
        return parser(topic, payload, received)
    except EnvelopeError:
        raise
    # safety net: the parsers map every failure the fuzz tests found themselves;
    # whatever slips through still ends as an EnvelopeError
    except msgspec.ValidationError as exc:  # pragma: no cover
        raise EnvelopeError(f"{kind}: invalid message ({exc})") from exc
    except (  # pragma: no cover
        AttributeError,
        KeyError,
        IndexError,
        TypeError,
        ValueError,
        OverflowError,
    ) as exc:
        raise EnvelopeError(f"{kind}: unexpected message structure ({exc!r})") from exc
