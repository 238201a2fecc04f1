"""Security headers and a request body limit for every response (#11 point 9).

Small ASGI middleware, no dependency: the installer page and the API send
Content-Security-Policy (scripts, styles, images, connections from this origin only:
the page and the offline /docs load nothing from elsewhere, and nothing may frame
them), X-Frame-Options, X-Content-Type-Options and Referrer-Policy. A request body
larger than ``LORAWAN_API__MAX_BODY_BYTES`` is answered 413 before it is read whole.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class _TooLarge(Exception):
    pass


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        started = answered = False
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen, answered
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    if not started and not answered:
                        answered = True  # answer now: FastAPI turns a read error into 400
                        await _too_large(send, limit)
                    raise _TooLarge
            return msg

        async def secured_send(msg: Message) -> None:
            nonlocal started
            if answered:
                return  # the 413 went out; whatever the app says after it is dropped
            if msg["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in msg.get("headers", ())}
                msg["headers"] = [
                    *msg.get("headers", ()),
                    *((k, v) for k, v in HEADERS if k not in names),
                ]
            await send(msg)

        try:
            await self.app(scope, limited_receive, secured_send)
        except _TooLarge:
            if not started and not answered:
                await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps({"detail": f"request body larger than {limit} bytes", "errors": []})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
