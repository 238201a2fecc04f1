"""The FastAPI application: ``create_app(settings, store=..., registry=...)``.

Nothing is built at import time. The app keeps what it is given on ``app.state``;
routes reach it through the dependencies in :mod:`api.deps`. Routes:

* ``/api/v1/...``   health, devices, readings, quantities, decode, (opendata)
* ``/metrics``      Prometheus text format
* ``/installer``    the installer page (one self-contained HTML page)
* ``/docs``, ``/redoc``  API docs from packaged assets (``api.docs``; no CDN)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

import lorawan_monitor
from api.deps import READ_SCHEME, KeyRing
from api.docs import install_docs
from api.errors import install_handlers
from api.routes import alerts, decode, devices, health, metrics, quantities, readings
from api.schemas import ErrorPublic, ParameterErrorPublic
from api.security import SecurityMiddleware
from api.sta import routes as sta
from decoders.catalog import NATIVE, DecoderCatalog
from lorawan_monitor.health import ServiceState
from lorawan_monitor.settings import Settings
from storage.base import TimeSeriesStore
from storage.registry_base import Registry

API_PREFIX = "/api/v1"
STATIC = Path(__file__).parent / "static"
_ASSETS = {
    "installer.js": "text/javascript; charset=utf-8",
    "installer-i18n.js": "text/javascript; charset=utf-8",
    "installer.css": "text/css; charset=utf-8",
}


def _operation_id(route: APIRoute) -> str:
    """Stable operation ids: the handler's name (unique across the app)."""
    return route.name


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    store: TimeSeriesStore,
    registry: Registry,
    decoders: DecoderCatalog | None = None,
    state: ServiceState | None = None,
    clock: Callable[[], datetime] = _now,
    alert_db: Any = None,
) -> FastAPI:
    app = FastAPI(
        title="lorawan-monitor",
        version=getattr(lorawan_monitor, "__version__", "0.1.0"),
        description="LoRaWAN sensor data: devices and their decode status, readings, "
        "the quantity catalogue and a decode tool. Reads are public or need an API key "
        "(`X-API-Key`), depending on `LORAWAN_API__READ_ACCESS`; edits always need one.",
        generate_unique_id_function=_operation_id,
        docs_url=None,  # api.docs serves /docs and /redoc without a CDN
        redoc_url=None,
        openapi_tags=[
            {"name": "health", "description": "Liveness and readiness probes"},
            {"name": "devices", "description": "Devices, their status and uplink journal"},
            {"name": "readings", "description": "Time series and latest values"},
            {"name": "quantities", "description": "The catalogue of canonical quantities"},
            {"name": "decode", "description": "Decode a pasted payload"},
            {
                "name": "sensorthings",
                "description": "OGC SensorThings API v1.1 (read-only, public devices): /sta/v1.1",
            },
            {"name": "alerts", "description": "Active alerts, their history, acknowledge, silence"},
        ],
    )
    app.state.settings = settings
    app.state.store = store
    app.state.registry = registry
    app.state.decoders = decoders if decoders is not None else NATIVE
    # readiness: the ingest's state when both run in one process; else this API's own
    app.state.service_state = state if state is not None else ServiceState()
    app.state.clock = clock
    app.state.alert_db = alert_db  # alerts.state.AlertDb; None: built from the registry
    app.state.keyring = KeyRing.from_keys(k.get_secret_value() for k in settings.api.api_keys)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(health.router)
    # readings first: its /devices/{device_key:path}/readings must not be shadowed by
    # devices' /devices/{device_key:path}
    api.include_router(readings.router)
    api.include_router(devices.router)
    api.include_router(quantities.router)
    api.include_router(decode.router)
    api.include_router(alerts.router)
    opendata = _optional_router("api.routes.opendata")
    if opendata is not None:
        api.include_router(opendata)
    app.include_router(api)
    app.include_router(metrics.router)
    app.include_router(sta.router)
    _installer_routes(app)
    install_docs(app)
    install_handlers(app)
    app.add_middleware(SecurityMiddleware, max_body_bytes=settings.api.max_body_bytes)
    _finish_spec(app, public_reads=settings.api.read_access == "public")
    return app


def _finish_spec(app: FastAPI, *, public_reads: bool) -> None:
    """Make the spec say what the handlers do.

    * every 422 is an :class:`ErrorPublic` (``api.errors`` rewrites validation errors),
      not FastAPI's default ``HTTPValidationError``;
    * with public reads, read operations need no key (their scheme is ``ReadKey``).
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas.setdefault("ErrorPublic", ErrorPublic.model_json_schema(ref_template=_REF))
            schemas.setdefault(
                "ParameterErrorPublic",
                ParameterErrorPublic.model_json_schema(ref_template=_REF),
            )
            for path in spec.get("paths", {}).values():
                for op in path.values():
                    if not isinstance(op, dict):
                        continue
                    responses = op.get("responses", {})
                    r422 = responses.get("422", {})
                    content = r422.get("content", {}).get("application/json", {})
                    if content.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                        content["schema"] = {"$ref": _REF.format(model="ErrorPublic")}
                    sec = op.get("security")
                    if public_reads and sec is not None and all(READ_SCHEME in r for r in sec):
                        del op["security"]
                        responses.pop("401", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            if public_reads:
                spec["components"].get("securitySchemes", {}).pop(READ_SCHEME, None)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_REF = "#/components/schemas/{model}"


def _optional_router(module: str) -> APIRouter | None:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None
    router: APIRouter = mod.router
    return router


def _installer_routes(app: FastAPI) -> None:
    @app.get("/installer", include_in_schema=False)
    def installer_page() -> HTMLResponse:
        return HTMLResponse((STATIC / "installer.html").read_text(encoding="utf-8"))

    @app.get("/installer/{asset}", include_in_schema=False)
    def installer_asset(asset: str) -> Response:
        media = _ASSETS.get(asset)
        if media is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response((STATIC / asset).read_bytes(), media_type=media)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/installer")
