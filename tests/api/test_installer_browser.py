"""The installer page in real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright for Python; no browser download), against uvicorn serving the app on a free
loopback port with the seeded SQLite registry and store: German and English, phone
(390 x 844) and desktop, a silent device shown as overdue with no interval configured.

The alerts API comes from another part of the project; here it is a route stubbed in the
test app only (tests say ``alerts_stub``), following the contract of
``GET /api/v1/alerts``, and removed where the page must cope with its absence (404)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.main import create_app
from lorawan_monitor.health import ServiceState
from lorawan_monitor.settings import Settings
from storage.registry import SqlRegistry
from storage.sqlite import SqliteStore
from tests.api.conftest import (
    API_KEY,
    BAD_EUI,
    LATE_EUI,
    NEVER_EUI,
    NODEC_EUI,
    NOW,
    OK_EUI,
    SILENT_EUI,
    make_settings,
    seed,
)
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
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


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


def without_alerts(app: FastAPI) -> None:
    """Remove ``/api/v1/alerts`` (once merged from the alerts branch) from this app."""
    app.router.routes[:] = [
        r
        for r in app.router.routes
        if not (isinstance(r, APIRoute) and r.path.startswith("/api/v1/alerts"))
    ]


def stub_alerts(app: FastAPI) -> None:
    """A stand-in for ``GET /api/v1/alerts`` in this test app only (the contract)."""
    without_alerts(app)
    since = (datetime.now(UTC) - timedelta(hours=2)).isoformat()

    def alert(i: str, **kw: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "id": i,
            "rule": "silent-devices",
            "kind": "device_silent",
            "severity": "critical",
            "state": "firing",
            "since": since,
            "value": None,
            "unit": None,
            "title": "Device silent",
            "description": "no uplink for more than twice its interval",
            "device_key": None,
            "device_name": None,
            "site": None,
            "acknowledged": False,
            "silenced_until": None,
        }
        return base | kw

    alerts = [
        alert("a1", device_key=SILENT_EUI, device_name="Parking space 7", value=4.0, unit="h"),
        alert(
            "a2",
            rule="battery",
            kind="battery_low",
            severity="warning",
            state="pending",
            title="Battery low",
            description="battery below its low level",
            device_key=OK_EUI,
            device_name="Town hall roof",
        ),
        alert(
            "a3",
            rule="ingest",
            kind="store_down",
            title="Store unreachable",
            description="InfluxDB does not answer; points are buffered",
            severity="warning",
        ),
    ]

    @app.get("/api/v1/alerts", include_in_schema=False)
    def alerts_stub() -> dict[str, Any]:
        return {"alerts": alerts}

    # the stub must answer before the installer's catch-alls
    app.router.routes.insert(0, app.router.routes.pop())


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    app, registry, store = seeded_app(tmp_path, make_settings())
    without_alerts(app)
    yield from serve(app)
    registry.close()
    store.close()


@pytest.fixture
def alerts_stub_url(tmp_path: Path) -> Iterator[str]:
    app, registry, store = seeded_app(tmp_path, make_settings())
    stub_alerts(app)
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


def new_page(browser: object, *, locale: str, viewport: dict[str, int]) -> tuple[Any, list[str]]:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(
        viewport=viewport,
        locale=locale,
        timezone_id="Europe/Berlin",
        is_mobile=viewport["width"] < 600,
        has_touch=viewport["width"] < 600,
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def shot(page: Any, name: str, *, full_page: bool = True) -> None:
    """A screenshot in tests/artifacts; ``LORAWAN_DOCS_SCREENSHOTS=1`` also refreshes
    docs/img (done when the page changes; the images are committed)."""
    import os

    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    if os.environ.get("LORAWAN_DOCS_SCREENSHOTS") == "1":
        shutil.copy(path, DOCS_IMG / name)


def assert_touch_sized(page: Any, selector: str) -> None:
    for i in range(page.locator(selector).count()):
        loc = page.locator(selector).nth(i)
        if not loc.is_visible():
            continue
        box = loc.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, (selector, i, box)


def test_installer_german_phone(browser: object, base_url: str) -> None:
    """German browser, phone: the list tells the truth at a glance, the device is in the URL."""
    from playwright.sync_api import expect

    page, errors = new_page(browser, locale="de-DE", viewport=PHONE)
    page.goto(f"{base_url}/installer")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_text("LoRaWAN-Installateur")
    rows = page.locator("#device-list li")
    expect(rows).to_have_count(6)
    # problems first: the silent parking sensor (interval learned, none configured) on top
    expect(rows.first).to_have_attribute("data-key", SILENT_EUI)
    order = [rows.nth(i).get_attribute("data-status") for i in range(6)]
    assert order == ["overdue", "overdue", "decode_error", "no_decoder", "never_seen", "ok"]
    silent = page.locator(f'li[data-key="{SILENT_EUI}"]')
    expect(silent.locator(".label")).to_have_text("Überfällig")  # a word, not only a colour
    expect(silent.locator(".age")).to_have_text("vor 4 Std.")
    expect(page.locator(f'li[data-key="{NEVER_EUI}"] .label')).to_have_text("Noch nie gehört")
    expect(page.locator(f'li[data-key="{OK_EUI}"] .label')).to_have_text("OK")
    # the legend explains every light in words
    page.locator("#legend summary").click()
    legend = page.locator("#legend-list li")
    expect(legend).to_have_count(5)
    expect(page.locator("#legend-list")).to_contain_text("Dekodierfehler")
    expect(page.locator("#legend-list")).to_contain_text("länger still als das Doppelte")
    # the alerts API answers with no active alert: the section says so
    expect(page.locator("#alerts-section")).to_be_visible()
    expect(page.locator("#alerts-none")).to_be_visible()
    assert_touch_sized(page, "header button, header .toggle, header summary, #legend summary")
    shot(page, "installer.png")

    # "nur Probleme" shows every non-OK state, the healthy device goes
    page.locator("#problems").check()
    expect(rows).to_have_count(5)
    expect(page.locator(f'li[data-key="{OK_EUI}"]')).to_have_count(0)
    page.locator("#problems").uncheck()
    expect(rows).to_have_count(6)

    # the silent device: overdue against the interval learned from its cadence
    silent.click()
    expect(page).to_have_url(f"{base_url}/installer#{SILENT_EUI}")
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#detail-status")).to_contain_text("Überfällig")
    facts = page.locator("#detail-facts")
    expect(facts).to_contain_text("15 Min. (gelernt aus den Nachrichten)")
    expect(facts).to_contain_text("überfällig nach 30 Min.")
    expect(facts).to_contain_text("mittel")  # SF10, SNR -9 dB: 6 dB margin
    expect(facts).to_contain_text("6 dB über der Grenze für SF10 (-15 dB)")
    expect(facts).to_contain_text("dekodiert · eingebauter Decoder")
    expect(page.locator("#detail-readings")).to_have_text("Stellplatzbelegt")  # not "1"
    expect(facts).to_contain_text("Verkehr")
    # the source the latest uplink came through (#16), the network server kind in its title
    source_dd = page.locator("#detail-facts dt:text-is('Quelle') + dd")
    expect(source_dd).to_have_text("chirpstack-stadtwerke")
    expect(source_dd).to_have_attribute("title", "source_name · chirpstack")
    expect(page.locator("#readings-time")).to_contain_text("vor 4 Std.")
    expect(page.locator("#readings-time")).to_have_class("muted small stale")
    assert_touch_sized(page, "#back")
    shot(page, "installer-detail.png")

    # the browser's Back button returns to the list, Forward opens the device again
    page.go_back()
    expect(page.locator("#detail")).to_be_hidden()
    expect(page.locator("#list-section")).to_be_visible()
    page.go_forward()
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#detail-title")).to_contain_text("Parking space 7")

    # the broken device: plain words, the technical name in a tooltip, the decode box
    page.evaluate(f"location.hash = '#{BAD_EUI}'")  # a changed hash opens that device
    expect(page.locator("#detail-title")).to_contain_text("Market square")
    expect(page.locator("#detail-error")).to_contain_text("got 7")
    expect(page.locator("#detail-facts")).not_to_contain_text("Quelle")  # none recorded
    decode_dd = page.locator("#detail-facts dd", has_text="Fehler beim Dekodieren")
    expect(decode_dd).to_have_attribute("title", "error · native:dragino/lht65")
    expect(page.locator("#detail-uplinks li").first).to_contain_text("cb f6 0b 0d 03 76 01")
    page.locator("#detail-uplinks li .use-hex").first.click()
    page.locator("#decode-form button").click()
    result = page.locator("#decode-result")
    expect(result).to_have_class("bad")
    expect(result).to_contain_text("Fehler: ")
    expect(result).to_be_in_viewport()  # the result is in view, not below the fold
    shot(page, "installer-decode.png", full_page=False)  # what the installer sees

    # switching devices clears the decode box; a DevEUI with colons opens the device
    eui = ":".join(OK_EUI[i : i + 2] for i in range(0, 16, 2))
    page.evaluate(f"location.hash = '#{eui}'")
    expect(page.locator("#detail-title")).to_contain_text("Town hall roof")
    expect(result).to_be_hidden()
    expect(page.locator("#decode-hex")).to_have_value("")
    facts = page.locator("#detail-facts")
    expect(facts).to_contain_text("gut")  # SF7, SNR 7.5 dB; battery 3.06 V for an LHT65
    expect(facts).to_contain_text("3,06 V")  # German decimal comma
    expect(page.locator("#detail-readings")).to_contain_text("Temperatur (intern)25,5 °C")
    # the page's back arrow goes to the list; the browser's Back then returns to the device
    page.locator("#back").click()
    expect(page.locator("#detail")).to_be_hidden()
    expect(page).to_have_url(f"{base_url}/installer")
    page.go_back()
    expect(page.locator("#detail-title")).to_contain_text("Town hall roof")
    page.locator("#back").click()
    expect(page.locator("#list-section")).to_be_visible()

    # search with a DevEUI as printed on a label
    page.locator("#search").fill("a8-40-41-00-01-81-c1-a0")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-key", OK_EUI)
    page.locator("#search").fill("")
    expect(rows).to_have_count(6)
    assert not errors, errors


def test_installer_english_desktop_with_alerts_stub(browser: object, alerts_stub_url: str) -> None:
    """English browser, desktop; firing alerts on top, a device's alerts in its detail;
    the language switch is remembered."""
    from playwright.sync_api import expect

    base = alerts_stub_url
    page, errors = new_page(browser, locale="en-US", viewport=DESKTOP)
    page.goto(f"{base}/installer")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    rows = page.locator("#device-list li")
    expect(rows).to_have_count(6)
    expect(page.locator(f'li[data-key="{SILENT_EUI}"] .label')).to_have_text("Overdue")
    expect(page.locator(f'li[data-key="{SILENT_EUI}"] .age')).to_have_text("4 hr. ago")
    expect(page.locator(f'li[data-key="{NODEC_EUI}"] .label')).to_have_text("No decoder")
    # only the firing alerts at the top (the pending one is not)
    top = page.locator("#alert-list li")
    expect(top).to_have_count(2)
    expect(page.locator("#alert-list")).to_contain_text("Device silent")
    expect(page.locator("#alert-list")).to_contain_text("Parking space 7")
    expect(page.locator("#alert-list")).to_contain_text("Store unreachable")
    expect(page.locator("#alert-list")).not_to_contain_text("Battery low")
    expect(top.first).to_contain_text("Critical")
    shot(page, "installer-desktop-en.png")

    # an alert with a device opens it; the detail lists the device's alerts
    top.first.click()
    expect(page).to_have_url(f"{base}/installer#{SILENT_EUI}")
    expect(page.locator("#detail-alert-list li")).to_have_count(1)
    expect(page.locator("#alerts-section")).to_be_hidden()  # the detail shows its own
    expect(page.locator("#detail-facts")).to_contain_text("15 min (learned from its messages)")
    expect(page.locator("#detail-facts")).to_contain_text("fair")
    expect(page.locator("#detail-readings")).to_have_text("Parking spaceoccupied")
    expect(page.locator("#readings-time")).to_contain_text("4 hr. ago")
    expect(page.locator("#detail-facts dt:text-is('Source') + dd")).to_have_text(
        "chirpstack-stadtwerke"
    )
    shot(page, "installer-detail-desktop-en.png")
    page.evaluate(f"location.hash = '#{OK_EUI}'")
    expect(page.locator("#detail-alert-list")).to_contain_text("Battery low")
    expect(page.locator("#detail-alert-list")).to_contain_text("pending")
    expect(page.locator("#detail-readings")).to_contain_text("Temperature (internal)25.5 °C")

    # switch to German: everything follows, and the choice survives a reload
    page.locator('.langbtn[data-lang="de"]').click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("#detail-readings")).to_contain_text("25,5 °C")
    expect(page.locator("#alerts-title")).to_have_text("Aktive Alarme")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("#detail-title")).to_contain_text("Town hall roof")  # #hash kept
    expect(page.locator("#detail-facts")).to_contain_text("Zuletzt gehört")
    assert not errors, errors


def test_installer_late_device_and_never_seen(browser: object, base_url: str) -> None:
    """A configured interval says so; a device never heard has no verdicts to show."""
    from playwright.sync_api import expect

    page, errors = new_page(browser, locale="de-DE", viewport=PHONE)
    page.goto(f"{base_url}/installer#{LATE_EUI}")
    expect(page.locator("#detail-facts")).to_contain_text("20 Min. (eingestellt)")
    expect(page.locator("#detail-status")).to_contain_text("Überfällig")
    page.evaluate(f"location.hash = '#{NEVER_EUI}'")
    expect(page.locator("#detail-status")).to_contain_text("Noch nie gehört")
    expect(page.locator("#no-readings")).to_be_visible()
    # opened from a link: the back arrow still gets to the list
    page.locator("#back").click()
    expect(page.locator("#list-section")).to_be_visible()
    assert not errors, errors


def test_installer_key_field(browser: object, keyed_url: str) -> None:
    from playwright.sync_api import expect

    page, _ = new_page(browser, locale="en-US", viewport=PHONE)
    page.goto(f"{keyed_url}/installer")
    expect(page.locator("#error")).to_contain_text("X-API-Key")
    expect(page.locator("#device-list li")).to_have_count(0)
    page.locator("#keybox summary").click()
    page.locator("#apikey").fill(API_KEY)
    page.locator("#apikey").dispatch_event("change")
    expect(page.locator("#device-list li")).to_have_count(6)
    expect(page.locator("#error")).to_be_hidden()
    # kept for the tab only (#11): nothing of the key stays on the phone
    assert page.evaluate("window.sessionStorage.getItem('lorawan-api-key')") == API_KEY
    assert page.evaluate("window.localStorage.getItem('lorawan-api-key')") is None
    page.reload()
    expect(page.locator("#device-list li")).to_have_count(6)  # same tab: still there
