"""Domain errors -> HTTP, in one place.

=========================  ======  ===========================================
exception                  status  body ``{"detail": ..., "errors": [...]}``
=========================  ======  ===========================================
UnknownDeviceError         404     the device key is in the message
SinkAuthError              503     the store refused our credentials
SinkError (others)         503     the store is down or refused the query
RequestValidationError     422     names each bad parameter ("query parameter 'limit': ...")
ApiKeyError                401     missing or wrong ``X-API-Key``
=========================  ======  ===========================================

Handlers return :class:`api.schemas.ErrorPublic`; nothing else leaks a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.schemas import ErrorPublic, ParameterErrorPublic
from lorawan_monitor.errors import (
    ConfigError,
    LoraMonitorError,
    SinkAuthError,
    SinkError,
    UnknownDeviceError,
)

log = logging.getLogger(__name__)

_LOCATIONS = {"query": "query parameter", "path": "path parameter", "header": "header"}


class ApiKeyError(LoraMonitorError):
    """Missing or wrong API key (401)."""

    reason = "api_key"


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    body = ErrorPublic(detail=detail, **extra)
    headers = {"WWW-Authenticate": "X-API-Key"} if status == 401 else None
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def describe_validation(errors: Sequence[Any]) -> list[ParameterErrorPublic]:
    """Pydantic / FastAPI errors -> one entry per bad parameter, with its name first."""
    out: list[ParameterErrorPublic] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        where = loc[0] if loc else "body"
        if where == "body":
            name = ".".join(loc[1:]) or "body"
            location = "body"
        else:
            name = ".".join(loc[1:]) or where
            location = where
        msg = str(err.get("msg", "invalid value"))
        out.append(ParameterErrorPublic(parameter=name, location=location, message=msg))
    return out


def install_handlers(app: FastAPI) -> None:
    async def unknown_device(request: Request, exc: Exception) -> JSONResponse:
        return _error(404, str(exc))

    async def sink_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, SinkAuthError):
            log.error("time-series store refused our credentials: %s", exc)
            return _error(503, f"time-series store refused our credentials: {exc}")
        return _error(503, f"time-series store unavailable: {exc}")

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = describe_validation(exc.errors())
        first = errors[0] if errors else None
        if first is None:
            detail = "invalid request"
        elif first.location == "body":
            detail = f"body field '{first.parameter}': {first.message}"
        else:
            label = _LOCATIONS.get(first.location, first.location)
            detail = f"{label} '{first.parameter}': {first.message}"
        return _error(422, detail, errors=errors)

    async def api_key(request: Request, exc: Exception) -> JSONResponse:
        return _error(401, str(exc))

    async def config_error(request: Request, exc: Exception) -> JSONResponse:
        return _error(503, f"service misconfigured: {exc}")

    app.add_exception_handler(UnknownDeviceError, unknown_device)
    app.add_exception_handler(SinkError, sink_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(ApiKeyError, api_key)
    app.add_exception_handler(ConfigError, config_error)


#: OpenAPI ``responses`` entries for the documented error statuses
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        401: "API key missing or wrong (header X-API-Key)",
        404: "Unknown device (the key is named in the message)",
        422: "A parameter is invalid (named in the message)",
        503: "The time-series store is unavailable",
    }
    return {s: {"model": ErrorPublic, "description": text[s]} for s in statuses}
