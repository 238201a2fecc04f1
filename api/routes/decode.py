"""The decode tool: paste a hex payload, see what the decoder makes of it.

A payload that does not decode is an answer, not a failure of the request: the
response is 200 with ``ok: false`` and the decoder's message ("expected 11 bytes,
got 7"). Only a malformed request (bad hex, port out of range) is a 422.
"""

from __future__ import annotations

import binascii
import re

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError

import decoders
from api.deps import DecodersDep, ReadAccess
from api.errors import error_responses
from api.routes.devices import jsonable, unit_of
from api.schemas import DecodeRequest, DecodeResultPublic, ReadingValuePublic
from decoders.errors import DecodeError, UnknownModelError

router = APIRouter(prefix="/decode", tags=["decode"])

_SEPARATORS = re.compile(r"[\s:\-]")


def parse_hex(text: str) -> bytes:
    """``"CB F6 0B"``, ``"cb:f6:0b"``, ``"0xcbf60b"`` -> bytes; 422 naming ``hex`` if not hex."""
    s = _SEPARATORS.sub("", text)
    if s[:2].lower() == "0x":
        s = s[2:]
    try:
        if len(s) % 2:
            raise ValueError(f"odd number of hex digits ({len(s)})")
        return binascii.unhexlify(s)
    except (binascii.Error, ValueError) as exc:
        msg = str(exc) if isinstance(exc, ValueError) else "not a hex string"
        if "non-hexadecimal" in msg.lower():
            msg = "not a hex string"
        raise RequestValidationError(
            [{"loc": ("body", "hex"), "msg": msg, "type": "value_error"}]
        ) from exc


@router.post(
    "",
    response_model=DecodeResultPublic,
    operation_id="decode_payload",
    dependencies=[ReadAccess],
    responses=error_responses(401, 422),
)
def decode_payload(body: DecodeRequest, registry: DecodersDep) -> DecodeResultPublic:
    """Decode a payload with the native decoder of ``model`` (as ingest would)."""
    payload = parse_hex(body.hex)
    model = body.model.strip()
    base = {"model": model, "f_port": body.f_port, "payload_hex": payload.hex()}
    try:
        result = decoders.decode(model, payload, body.f_port, body.variables, catalog=registry)
    except UnknownModelError as exc:
        return DecodeResultPublic(
            ok=False,
            error=str(exc),
            error_type=exc.reason,
            closest_models=registry.closest(model) if model else [],
            **base,
        )
    except DecodeError as exc:
        return DecodeResultPublic(ok=False, error=str(exc), error_type=exc.reason, **base)
    readings = [
        ReadingValuePublic(
            quantity=str(r.quantity), sensor=r.sensor, value=r.value, unit=unit_of(r.quantity)
        )
        for r in result.readings
    ]
    return DecodeResultPublic(
        ok=True,
        decoded=jsonable(result.decoded),
        readings=readings,
        warnings=list(result.warnings),
        **base,
    )
