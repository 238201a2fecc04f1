"""Payload decoders: native decoders by TTN Device Repository model id (the decoder catalog), plus normalization.

Public surface::

    from decoders import decode, normalize, NATIVE
    result = decode("dragino/lht65", payload, f_port=2)   # -> DecodeResult
    result.decoded     # the vendor codec's dict
    result.readings    # canonical Reading(quantity, value, sensor)

``decoders`` depends on nothing of ours except the leaf module ``lorawan_monitor.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from decoders import vendors as _vendors  # noqa: F401  (registers every native decoder)
from decoders.base import Decoder, DecodeResult, Field, Normalized, Reading
from decoders.catalog import NATIVE, DecoderCatalog, register
from decoders.common_keys import normalize_common
from decoders.errors import DecodeError, UnknownModelError
from decoders.quantities import CATALOGUE, Quantity, QuantityInfo


def decode(
    model_id: str,
    payload: bytes,
    f_port: int,
    variables: Mapping[str, Any] | None = None,
    *,
    catalog: DecoderCatalog = NATIVE,
    recv_time: datetime | None = None,
    decoder: Decoder | None = None,
) -> DecodeResult:
    """Decode and normalize one payload. Raises only DecodeError subclasses.

    ``recv_time`` (the network server's receive time) reaches decoders that declare
    ``takes_recv_time = True`` (JavaScript codecs: TS013 ``recvTime``). ``decoder``, when
    given, is the one the caller already found (e.g. per firmware version).
    """
    if decoder is None:
        decoder = catalog.get(model_id)
    try:
        if recv_time is not None and decoder.takes_recv_time:
            decoded = decoder.decode_received(payload, f_port, variables, recv_time=recv_time)
        else:
            decoded = decoder.decode(payload, f_port, variables)
    except DecodeError:
        raise
    except Exception as exc:  # a decoder bug must still look like a decode failure
        raise DecodeError(f"{model_id}: decoder failed on this payload ({exc!r})") from exc
    n = decoder.normalize(decoded)
    return DecodeResult(
        model_id=model_id, decoded=decoded, readings=n.readings, warnings=n.warnings
    )


def normalize(
    model_id: str | None, decoded: Mapping[str, Any], *, catalog: DecoderCatalog = NATIVE
) -> Normalized:
    """Normalize a vendor dict (e.g. decoded by the network server).

    With a known model the model's table is used, otherwise the common key names.
    """
    decoder = catalog.find(model_id)
    if decoder is not None:
        return decoder.normalize(decoded)
    return normalize_common(decoded)


__all__ = [
    "CATALOGUE",
    "NATIVE",
    "DecodeError",
    "DecodeResult",
    "Decoder",
    "DecoderCatalog",
    "Field",
    "Normalized",
    "Quantity",
    "QuantityInfo",
    "Reading",
    "UnknownModelError",
    "decode",
    "normalize",
    "register",
]
