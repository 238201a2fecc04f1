"""``/docs`` (Swagger UI) and ``/redoc`` served from the installed packages: no CDN.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (blank without internet, and a
request to a third party from every visitor). The assets come from the PyPI package
``fastapi-offline`` (MIT), which ships the Swagger UI (Apache-2.0) and ReDoc (MIT)
distribution files as package data; we use only those files, through
``importlib.resources``, and our own pages: no inline script or style (a same-origin
Content-Security-Policy allows them), Swagger UI's call to the online validator off.
"""

from __future__ import annotations

import logging
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

log = logging.getLogger(__name__)

ASSET_PACKAGE = "fastapi_offline"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
#: our own files next to the installer page
OWN = {"docs-init.js": "text/javascript; charset=utf-8"}
ASSET_URL = "/docs-assets"
STATIC = Path(__file__).parent / "static"


def asset_dir() -> Traversable | None:
    """Where the Swagger UI / ReDoc files are, ``None`` when the package lacks them."""
    try:
        root = resources.files(ASSET_PACKAGE).joinpath("static")
    except ModuleNotFoundError:
        return None
    return root if all(root.joinpath(n).is_file() for n in ASSETS) else None


#: the pages' own policy (a <meta> CSP, on top of any header): nothing leaves the origin,
#: even where the bundles would fetch something (ReDoc's Redocly logo is an external
#: image). ReDoc needs inline <style> (styled-components) and a blob: worker (search).
SWAGGER_CSP = "default-src 'self'; img-src 'self' data:"
REDOC_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:"
)


def _page(title: str, csp: str, head: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n"
        f'<link rel="icon" type="image/png" href="{ASSET_URL}/favicon.png">\n'
        f"{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


def swagger_html(openapi_url: str) -> str:
    return _page(
        "lorawan-monitor API – Swagger UI",
        SWAGGER_CSP,
        f'<link rel="stylesheet" href="{ASSET_URL}/swagger-ui.css">\n',
        f'<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>\n'
        f'<script src="{ASSET_URL}/swagger-ui-bundle.js"></script>\n'
        f'<script src="{ASSET_URL}/docs-init.js"></script>\n',
    )


def redoc_html(openapi_url: str) -> str:
    return _page(
        "lorawan-monitor API – ReDoc",
        REDOC_CSP,
        "",
        f'<redoc spec-url="{openapi_url}"></redoc>\n'
        f'<script src="{ASSET_URL}/redoc.standalone.js"></script>\n',
    )


def install_docs(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Add ``/docs``, ``/redoc`` and their assets (create the app with
    ``docs_url=None, redoc_url=None``)."""
    root = asset_dir()
    if root is None:
        log.warning(
            "API docs: the package %r with the Swagger UI / ReDoc files is missing; "
            "/docs and /redoc answer 503 (reinstall lorawan-monitor)",
            ASSET_PACKAGE,
        )

    def missing() -> Response:
        return Response(
            f"API docs unavailable: package {ASSET_PACKAGE!r} missing; {openapi_url} works",
            status_code=503,
            media_type="text/plain",
        )

    @app.get("/docs", include_in_schema=False)
    def swagger_page() -> Response:
        return HTMLResponse(swagger_html(openapi_url)) if root else missing()

    @app.get("/redoc", include_in_schema=False)
    def redoc_page() -> Response:
        if root is None:
            return missing()
        # ReDoc's own policy as the header too: the app-wide one (api/security.py) forbids
        # the inline styles and the blob: worker ReDoc needs, and both would apply (#11, #14)
        csp = REDOC_CSP + "; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
        return HTMLResponse(redoc_html(openapi_url), headers={"Content-Security-Policy": csp})

    @app.get(ASSET_URL + "/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        if name in OWN:
            return Response((STATIC / name).read_bytes(), media_type=OWN[name])
        media = ASSETS.get(name)
        if media is None or root is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(
            root.joinpath(name).read_bytes(),
            media_type=media,
            headers={"Cache-Control": "public, max-age=86400"},
        )
