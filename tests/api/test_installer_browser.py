"""The installer page in real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright for Python; no browser download), against uvicorn serving the app on a free
loopback port with the seeded SQLite registry and store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from api.main import create_app
from lorawan_monitor.metrics import ServiceState
from lorawan_monitor.settings import Settings
from storage.registry import SqlRegistry
from storage.sqlite import SqliteStore
from tests.api.conftest import API_KEY, BAD_EUI, NEVER_EUI, NOW, OK_EUI, make_settings, seed
from tests.servers import free_port

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def serve(app: FastAPI) -> Iterator[str]:
    """Run the app with uvicorn in a thread on a free loopback port; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def seeded_app(tmp_path: Path, settings: Settings) -> tuple[FastAPI, SqlRegistry, SqliteStore]:
    registry = SqlRegistry(f"sqlite:///{tmp_path / 'registry.db'}")
    store = SqliteStore(tmp_path / "ts.db")
    seed(registry, store)
    app = create_app(
        settings, store=store, registry=registry, state=ServiceState(), clock=lambda: NOW
    )
    return app, registry, store


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    app, registry, store = seeded_app(tmp_path, make_settings())
    yield from serve(app)
    registry.close()
    store.close()


@pytest.fixture
def keyed_url(tmp_path: Path) -> Iterator[str]:
    app, registry, store = seeded_app(tmp_path, make_settings(read_access="key"))
    yield from serve(app)
    registry.close()
    store.close()


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: install the Debian package 'chromium' (make deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_installer_page(browser: object, base_url: str) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base_url}/installer")

    rows = page.locator("#device-list li")
    expect(rows).to_have_count(5)
    # traffic lights as the API computes them
    expect(page.locator(f'li[data-key="{BAD_EUI}"]')).to_have_attribute(
        "data-status", "decode_error"
    )
    expect(page.locator(f'li[data-key="{OK_EUI}"]')).to_have_attribute("data-status", "ok")
    expect(page.locator(f'li[data-key="{NEVER_EUI}"]')).to_contain_text("never")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "installer.png"), full_page=True)

    # the broken device shows its decode error text and its raw hex
    page.locator(f'li[data-key="{BAD_EUI}"]').click()
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#detail-error")).to_contain_text("11 bytes")
    expect(page.locator("#detail-error")).to_contain_text("got 7")
    expect(page.locator("#detail-uplinks li").first).to_contain_text("cb f6 0b 0d 03 76 01")
    page.screenshot(path=str(ARTIFACTS / "installer-detail.png"), full_page=True)
    page.locator("#back").click()

    # the healthy one: radio, frame-counter gaps, battery, readings with units
    page.locator(f'li[data-key="{OK_EUI}"]').click()
    facts = page.locator("#detail-facts")
    expect(facts).to_contain_text("-97 dBm")
    expect(facts).to_contain_text("SF7")
    expect(facts).to_contain_text("3 missed (20 %)")
    expect(facts).to_contain_text("3.06 V")
    expect(page.locator("#detail-readings")).to_contain_text("°C")
    page.locator("#back").click()

    # search filters the list (by name, then by DevEUI)
    page.locator("#search").fill("market")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-key", BAD_EUI)
    page.locator("#search").fill(OK_EUI[-6:].lower())
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-key", OK_EUI)
    page.locator("#search").fill("")
    expect(rows).to_have_count(5)

    # the decode box calls POST /api/v1/decode
    page.locator("#decode-model").fill("dragino/lht65")
    page.locator("#decode-port").fill("2")
    page.locator("#decode-hex").fill("CB F6 0B 0D 03 76 01 0A DD 7F FF")
    page.locator("#decode-form button").click()
    result = page.locator("#decode-result")
    expect(result).to_contain_text("temperature (internal): 28.29 °C")
    expect(result).to_have_class("good")
    page.locator("#decode-hex").fill("CB F6 0B")
    page.locator("#decode-form button").click()
    expect(result).to_have_class("bad")
    expect(result).to_contain_text("got 3")
    page.screenshot(path=str(ARTIFACTS / "installer-decode.png"), full_page=True)
    assert not errors, errors


def test_installer_key_field(browser: object, keyed_url: str) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{keyed_url}/installer")
    expect(page.locator("#error")).to_contain_text("X-API-Key")
    expect(page.locator("#device-list li")).to_have_count(0)
    page.locator("#keybox summary").click()
    page.locator("#apikey").fill(API_KEY)
    page.locator("#apikey").dispatch_event("change")
    expect(page.locator("#device-list li")).to_have_count(5)
    expect(page.locator("#error")).to_be_hidden()
