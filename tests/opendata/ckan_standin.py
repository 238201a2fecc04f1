"""A CKAN Action API stand-in: an in-process HTTP server on a free loopback port.

No CKAN runs here, so this replaces it at its HTTP boundary, built from CKAN 2.10's
documented request/response shapes (ckan/logic/action/{get,create,update}.py):
``GET|POST /api/3/action/<name>``; JSON body or multipart/form-data with an ``upload``
file; answers ``{"success": true, "result": ...}`` or
``{"success": false, "error": {"__type": "...", "message": ...}}`` with 403 / 404 / 409.
It enforces what SH's portal validates: name pattern, title, notes, license_id, and a
``url`` or upload plus ``format`` on every resource.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

NAME_RE = re.compile(r"^[a-z0-9_-]{2,100}$")


class ActionError(Exception):
    def __init__(self, status: int, typ: str, message: Any) -> None:
        super().__init__(message)
        self.status, self.typ, self.message = status, typ, message


@dataclass
class Ckan:
    api_key: str
    port: int = 0
    packages: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def writes(self) -> list[str]:
        return [c for c in self.calls if not c.endswith("_show")]

    # -- actions ---------------------------------------------------------------------
    def handle(self, action: str, data: dict[str, Any], upload: bytes | None, auth: str) -> Any:
        self.calls.append(action)
        if action == "package_show":
            pkg = self.packages.get(str(data.get("id")))
            if pkg is None:
                raise ActionError(404, "Not Found Error", "Not found")
            return pkg
        if auth != self.api_key:
            raise ActionError(403, "Authorization Error", "Access denied")
        if action in ("package_create", "package_update"):
            name = str(data.get("name", ""))
            errors = {}
            if not NAME_RE.match(name):
                errors["name"] = ["Must be purely lowercase alphanumeric (ascii) characters"]
            for f in ("title", "notes", "license_id"):
                if not data.get(f):
                    errors[f] = ["Missing value"]
            exists = name in self.packages
            if action == "package_create" and exists:
                errors["name"] = ["That URL is already in use."]
            if action == "package_update" and not exists:
                raise ActionError(404, "Not Found Error", "Not found")
            if errors:
                raise ActionError(409, "Validation Error", errors)
            old = self.packages.get(name, {})
            pkg = {**data, "id": old.get("id", str(uuid.uuid4())),
                   "resources": data.get("resources", old.get("resources", []))}  # fmt: skip
            self.packages[name] = pkg
            return pkg
        if action in ("resource_create", "resource_update"):
            if action == "resource_create":
                pkg = self.packages.get(str(data.get("package_id")))
                if pkg is None:
                    raise ActionError(404, "Not Found Error", "Package not found")
                res: dict[str, Any] = {"id": str(uuid.uuid4()), "package_id": pkg["id"]}
                pkg["resources"].append(res)
            else:
                found = [
                    (p, r) for p in self.packages.values() for r in p["resources"]
                    if r["id"] == data.get("id")
                ]  # fmt: skip
                if not found:
                    raise ActionError(404, "Not Found Error", "Resource not found")
                res = found[0][1]
            if upload is None and not data.get("url"):
                raise ActionError(409, "Validation Error", {"url": ["Missing value"]})
            if not data.get("format"):
                raise ActionError(409, "Validation Error", {"format": ["Missing value"]})
            res.update({k: v for k, v in data.items() if k not in ("id", "package_id")})
            if upload is not None:
                self.uploads[res["id"]] = upload
                res["url"] = f"{self.url}/dataset/x/resource/{res['id']}/download/{res['name']}"
                res["url_type"] = "upload"
                assert hashlib.sha256(upload).hexdigest() == data.get("hash", res.get("hash"))
            return res
        raise ActionError(400, "Bad Request", f"Unknown action {action}")


def _handler(ckan: Ckan) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _go(self, data: dict[str, Any], upload: bytes | None) -> None:
            action = urlsplit(self.path).path.removeprefix("/api/3/action/")
            try:
                result = ckan.handle(action, data, upload, self.headers.get("Authorization", ""))
                status, body = 200, {"success": True, "result": result}
            except ActionError as e:
                status = e.status
                body = {"success": False, "error": {"__type": e.typ, "message": e.message}}
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            self._go(dict(parse_qsl(urlsplit(self.path).query)), None)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("multipart/form-data"):
                msg = BytesParser(policy=HTTP).parsebytes(
                    f"Content-Type: {ctype}\r\n\r\n".encode() + raw
                )
                data: dict[str, Any] = {}
                upload: bytes | None = None
                for part in msg.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    payload = part.get_payload(decode=True)
                    if name == "upload":
                        upload = payload if isinstance(payload, bytes) else None
                    else:
                        data[str(name)] = payload.decode() if isinstance(payload, bytes) else ""
                self._go(data, upload)
            else:
                self._go(json.loads(raw or b"{}"), None)

    return H


@contextmanager
def running_ckan(api_key: str = "secret-key") -> Iterator[Ckan]:
    ckan = Ckan(api_key=api_key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ckan))
    ckan.port = server.server_address[1]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield ckan
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)
