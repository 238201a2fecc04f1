"""Fixtures for the alert tests: a real SMTP server (aiosmtpd) and a real HTTP receiver for
webhooks, both on free loopback ports; a registry on a temporary SQLite file; helpers that
drive devices through the registry exactly as ingest records them."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from storage.registry import SqlRegistry
from storage.registry_base import DeviceMeta, UplinkRecord
from tests.servers import free_port
from tests.storage.conftest import postgres, postgres_dsn  # noqa: F401 - fixtures

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


@dataclass
class Mail:
    sender: str
    to: list[str]
    subject: str
    body: str
    notification_id: str | None = None


@dataclass
class SmtpServer:
    port: int
    mails: list[Mail] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",)) if msg.is_multipart() else msg
        body = part.get_content() if part is not None else ""
        self.mails.append(
            Mail(
                sender=envelope.mail_from,
                to=list(envelope.rcpt_tos),
                subject=str(msg["subject"]),
                body=str(body),
                notification_id=msg["X-Lorawan-Notification-Id"],
            )
        )
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def url(self, to: str = "staff@stadt.example") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=alerts@stadt.example&to={to}&mode=insecure"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    s = SmtpServer(port=free_port())
    s.start()
    yield s
    s.stop()


@dataclass
class Webhook:
    port: int
    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    #: every request's (status answered, Idempotency-Key header), refused ones too
    attempts: list[tuple[int, str | None]] = field(default_factory=list)
    #: the Idempotency-Key of each accepted post (same order as ``posts``)
    keys: list[str | None] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(port=free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            n = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(n)
            key = self.headers.get("Idempotency-Key")
            hook.attempts.append((hook.status, key))
            if hook.status == 200:
                hook.posts.append(json.loads(data))
                hook.keys.append(key)
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", hook.port), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield hook
    server.shutdown()
    server.server_close()


@pytest.fixture
def registry_dsn(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.db'}"


@pytest.fixture
def registry(registry_dsn: str) -> Iterator[SqlRegistry]:
    r = SqlRegistry(registry_dsn)
    yield r
    r.close()


def add_device(
    registry: Any,
    key: str,
    *,
    name: str,
    site: str = "hafen",
    category: str = "environment",
    interval: int = 600,
    tags: dict[str, str] | None = None,
) -> None:
    registry.update_meta(
        key,
        DeviceMeta(
            name=name, site=site, category=category, expected_interval_s=interval, tags=tags
        ),
        create=True,
    )


_FCNT: dict[str, int] = {}


def uplink(
    registry: Any,
    key: str,
    t: datetime,
    readings: tuple[tuple[str, str, float], ...] = (),
    *,
    status: str = "decoded",
    gateway: str = "gw-rathaus",
    error: str | None = None,
) -> None:
    """One uplink as ingest records it (device id = the key in lower case)."""
    n = _FCNT[key] = _FCNT.get(key, 0) + 1
    registry.record_uplinks(
        [
            UplinkRecord(
                device_key=key,
                dev_eui=key,
                device_id=key.lower(),
                application="stadt",
                source="tts",
                received_at=t,
                f_port=1,
                f_cnt=n,
                payload=b"\x01",
                model_id="acme/pegel",
                decoder="native:acme/pegel",
                status=status,  # type: ignore[arg-type]
                error=error,
                readings=readings,
                gateways=({"gateway_id": gateway, "rssi": -90.0, "snr": 7.0},),
                gateway_count=1,
                rssi=-90.0,
                uplink_id=f"{key}-{n}",
            )
        ]
    )
