"""#14: ``/docs`` and ``/redoc`` work without internet. Real headless Chromium with every
request outside the app's own origin blocked (and counted), and the pages served under a
same-origin Content-Security-Policy, as a municipal network would have them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.docs import ASSETS, asset_dir
from tests.api.conftest import make_settings
from tests.api.test_installer_browser import browser, seeded_app, serve

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, imported for pytest

CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"


@pytest.fixture
def docs_url(tmp_path: Path) -> Iterator[str]:
    app, registry, store = seeded_app(tmp_path, make_settings())
    yield from serve(app)
    registry.close()
    store.close()


def offline_page(
    browser: object, base: str, *, csp: str | None
) -> tuple[object, list[str], list[str]]:
    """A page whose requests reach only ``base``; returns (page, blocked URLs, console
    errors)."""
    from playwright.sync_api import Browser, Route

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []
    errors: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        if not url.startswith(base + "/"):
            blocked.append(url)
            route.abort("internetdisconnected")
            return
        if not csp:
            route.continue_()
            return
        resp = route.fetch()
        route.fulfill(response=resp, headers={**resp.headers, "content-security-policy": csp})

    context.route("**/*", handle)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page, blocked, errors


def test_docs_assets_come_from_the_installed_package() -> None:
    root = asset_dir()
    assert root is not None, "fastapi-offline's static files are missing"
    for name in ASSETS:
        assert root.joinpath(name).read_bytes()[:4], name


def test_swagger_ui_renders_offline_under_csp(browser: object, docs_url: str) -> None:
    from playwright.sync_api import Page, expect

    page, blocked, errors = offline_page(browser, docs_url, csp=CSP)
    assert isinstance(page, Page)
    page.goto(f"{docs_url}/docs")
    # rendered from /openapi.json: the title and the operations of the devices tag
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("lorawan-monitor")
    expect(page.locator("#operations-devices-list_devices")).to_be_visible()
    page.locator("#operations-devices-list_devices .opblock-summary").click()
    expect(page.locator("#operations-devices-list_devices")).to_contain_text("problems")
    html = page.content()
    assert "cdn" not in html.lower()
    assert blocked == [], blocked
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_redoc_renders_offline_under_csp(browser: object, docs_url: str) -> None:
    from playwright.sync_api import Page, expect

    # the page's own <meta> policy (api.docs.REDOC_CSP): ReDoc needs inline styles
    page, blocked, errors = offline_page(browser, docs_url, csp=None)
    assert isinstance(page, Page)
    page.goto(f"{docs_url}/redoc")
    expect(page.locator("h1").first).to_contain_text("lorawan-monitor")
    expect(page.locator('a[href="#tag/devices/operation/list_devices"]')).to_be_attached()
    page.locator('input[placeholder="Search..."]').fill("uplinks")  # the search worker runs
    expect(page.locator('[role="search"] li').first).to_be_visible()
    assert blocked == [], blocked
    # the only thing the policy stops is ReDoc's external logo, which never leaves the page
    stopped = [e for e in errors if "Content Security Policy" in e]
    assert all("img-src" in e and "127.0.0.1" not in e for e in stopped), stopped
