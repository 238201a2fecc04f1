"""A stand-in for The Things Stack's Storage Integration HTTP API (no TTS runs here).

Built from the TTS documentation ("Storage Integration → Retrieve Messages" and the
``ApplicationUpStorage`` API reference):

* ``GET /api/v3/as/applications/{application_id}/packages/storage/uplink_message``
  (and ``…/devices/{device_id}/packages/storage/uplink_message`` for one device)
* ``Authorization: Bearer <API key>`` with RIGHT_APPLICATION_TRAFFIC_READ; a wrong key
  is answered ``401`` with a gRPC-gateway error body
* query parameters ``after``, ``before`` (RFC 3339), ``limit``, ``order``
  (``received_at`` or ``-received_at``), ``f_port``
* the response is ``Content-Type: text/event-stream`` with newline-delimited JSON, one
  ``{"result": <ApplicationUp>}`` per stored uplink

It serves what the test put in (the uplinks The Things Stack "stored") and records
every request so tests can check what the client asked for. ``after`` / ``before`` are
compared with the message's top-level ``received_at`` (when the Application Server got
it, what the Storage Integration stores), exclusive at both ends.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

_PREFIX = "/api/v3/as/applications/"
_SUFFIX = "/packages/storage/uplink_message"


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _received_at(up: dict[str, Any]) -> datetime:
    t = up.get("received_at") or (up.get("uplink_message") or {}).get("received_at")
    return _time(str(t))


@dataclass
class Request:
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int


@dataclass
class TtsStorageStandin:
    api_key: str = "NNSXS.STANDIN-KEY"
    stored: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what The Things Stack stored ---------------------------------------------------

    def store(self, message: bytes | dict[str, Any]) -> None:
        """Keep one ApplicationUp (the JSON TTS published on MQTT, or a dict)."""
        up = orjson.loads(message) if isinstance(message, bytes) else message
        app = up["end_device_ids"]["application_ids"]["application_id"]
        with self._lock:
            self.stored[app].append(up)

    # -- server ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """What LORAWAN_TTS__API_URL is set to (``…/api/v3``)."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v3"

    def start(self) -> None:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                status, body = standin._answer(self.path, dict(self.headers.items()))
                self.send_response(status)
                ctype = "text/event-stream" if status == 200 else "application/json"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- the API -------------------------------------------------------------------------

    def _answer(self, raw_path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        parts = urlsplit(raw_path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        lower = {k.lower(): v for k, v in headers.items()}
        status, body = self._route(parts.path, params, lower)
        with self._lock:
            self.requests.append(Request(parts.path, params, lower, status))
        return status, body

    def _route(
        self, path: str, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, orjson.dumps(
                {"code": 16, "message": "error:pkg/auth:unauthenticated (unauthenticated)"}
            )
        if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
            return 404, orjson.dumps({"code": 5, "message": "not found"})
        ids = path[len(_PREFIX) : -len(_SUFFIX)].split("/")
        app = ids[0]
        device = ids[2] if len(ids) == 3 and ids[1] == "devices" else None
        with self._lock:
            if app not in self.stored:
                return 404, orjson.dumps({"code": 5, "message": f"application {app} not found"})
            ups = list(self.stored[app])
        try:
            after = _time(params["after"]) if "after" in params else None
            before = _time(params["before"]) if "before" in params else None
            limit = int(params["limit"]) if "limit" in params else None
        except ValueError as exc:
            return 400, orjson.dumps({"code": 3, "message": f"invalid argument: {exc}"})
        order = params.get("order", "received_at")
        if order not in ("received_at", "-received_at"):
            return 400, orjson.dumps({"code": 3, "message": f"invalid order {order!r}"})
        sel = [
            up
            for up in ups
            if (after is None or _received_at(up) > after)
            and (before is None or _received_at(up) < before)
            and (device is None or up["end_device_ids"]["device_id"] == device)
            and (
                "f_port" not in params
                or str(up["uplink_message"].get("f_port", 0)) == params["f_port"]
            )
        ]
        sel.sort(key=_received_at, reverse=order.startswith("-"))
        if limit:
            sel = sel[:limit]
        return 200, b"".join(orjson.dumps({"result": up}) + b"\n" for up in sel)
