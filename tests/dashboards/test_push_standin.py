"""``dashboards push`` against a Grafana HTTP API stand-in (no Grafana server runs here).

The stand-in is a real HTTP server on a loopback port implementing the endpoints
grafana-client calls, with the request and response shapes of Grafana's HTTP API docs
(Folder API, Dashboard API: ``POST /api/dashboards/db`` bumps ``version`` on every save).
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dashboards.generate import build_all
from dashboards.push import GrafanaPushError, connect, push
from lorawan_monitor.cli import main
from tests.servers import free_port

TOKEN = "glsa_standin_token"


@dataclass
class GrafanaState:
    folders: list[dict[str, Any]] = field(default_factory=list)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    saves: list[str] = field(default_factory=list)
    next_id: int = 1


class Handler(BaseHTTPRequestHandler):
    state: GrafanaState

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, {"message": "invalid API key"})
            return False
        return True

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(n) or b"null")

    def do_GET(self) -> None:
        if not self._authorized():
            return
        s = self.state
        path = self.path.split("?")[0]
        if path == "/api/frontend/settings":
            self._send(200, {"buildInfo": {"version": "11.3.0", "commit": "standin"}})
        elif path == "/api/health":
            self._send(200, {"database": "ok", "version": "11.3.0"})
        elif path == "/api/folders":
            self._send(
                200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in s.folders]
            )
        elif m := re.fullmatch(r"/api/dashboards/uid/([\w-]+)", path):
            entry = s.dashboards.get(m.group(1))
            if entry is None:
                self._send(404, {"message": "Dashboard not found"})
            else:
                self._send(200, copy.deepcopy(entry))
        else:
            self._send(404, {"message": "Not found"})

    def do_POST(self) -> None:
        if not self._authorized():
            return
        s, body = self.state, self._body()
        if self.path == "/api/folders":
            if any(f["uid"] == body.get("uid") or f["title"] == body["title"] for f in s.folders):
                self._send(409, {"message": "a folder with the same name or uid already exists"})
                return
            folder = {
                "id": s.next_id,
                "uid": body.get("uid") or f"f{s.next_id}",
                "title": body["title"],
                "url": f"/dashboards/f/{body.get('uid')}/",
                "version": 1,
            }
            s.next_id += 1
            s.folders.append(folder)
            self._send(200, folder)
        elif self.path == "/api/dashboards/db":
            dash, folder_uid = body["dashboard"], body.get("folderUid", "")
            if folder_uid and not any(f["uid"] == folder_uid for f in s.folders):
                self._send(400, {"message": "folder not found", "status": "not-found"})
                return
            old = s.dashboards.get(dash["uid"])
            if (
                old
                and not body.get("overwrite")
                and dash.get("version") != old["dashboard"]["version"]
            ):
                self._send(412, {"message": "version-mismatch", "status": "version-mismatch"})
                return
            version = old["dashboard"]["version"] + 1 if old else 1
            ident = old["dashboard"]["id"] if old else s.next_id
            s.next_id += 0 if old else 1
            stored = {**dash, "id": ident, "version": version}
            s.dashboards[dash["uid"]] = {
                "dashboard": stored,
                "meta": {"folderUid": folder_uid, "slug": dash["uid"], "version": version},
            }
            s.saves.append(dash["uid"])
            self._send(
                200,
                {
                    "id": ident,
                    "uid": dash["uid"],
                    "url": f"/d/{dash['uid']}/{dash['uid']}",
                    "status": "success",
                    "version": version,
                    "slug": dash["uid"],
                },
            )
        else:
            self._send(404, {"message": "Not found"})


@dataclass
class StandIn:
    url: str
    state: GrafanaState


@pytest.fixture
def grafana_standin() -> Iterator[StandIn]:
    state = GrafanaState()
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield StandIn(f"http://127.0.0.1:{server.server_address[1]}", state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_standin_first_push_creates_second_changes_nothing(grafana_standin: StandIn) -> None:
    api = connect(grafana_standin.url, TOKEN)
    boards = build_all()
    first = push(api, boards, "LoRaWAN")
    assert [r.action for r in first] == ["created"] * len(boards)
    assert [f["title"] for f in grafana_standin.state.folders] == ["LoRaWAN"]
    saves = len(grafana_standin.state.saves)
    versions = {u: d["dashboard"]["version"] for u, d in grafana_standin.state.dashboards.items()}

    second = push(connect(grafana_standin.url, TOKEN), build_all(), "LoRaWAN")
    assert [r.action for r in second] == ["unchanged"] * len(boards)
    assert len(grafana_standin.state.saves) == saves, "an unchanged dashboard was saved again"
    assert {r.uid: r.version for r in second} == versions
    assert len(grafana_standin.state.folders) == 1


def test_standin_changed_board_is_updated_alone(grafana_standin: StandIn) -> None:
    api = connect(grafana_standin.url, TOKEN)
    push(api, build_all())
    boards = build_all()
    boards["traffic"]["title"] = "Traffic (edited)"
    results = {r.uid: r for r in push(api, boards)}
    assert results["lorawan-traffic"].action == "updated"
    assert results["lorawan-traffic"].version == 2
    assert {r.action for u, r in results.items() if u != "lorawan-traffic"} == {"unchanged"}
    stored = grafana_standin.state.dashboards["lorawan-traffic"]["dashboard"]
    assert stored["title"] == "Traffic (edited)"


def test_standin_board_in_another_folder_is_moved(grafana_standin: StandIn) -> None:
    api = connect(grafana_standin.url, TOKEN)
    push(api, build_all(), "Old")
    results = push(api, build_all(), "Sensors & Co")
    assert {r.action for r in results} == {"updated"}
    uid = next(f["uid"] for f in grafana_standin.state.folders if f["title"] == "Sensors & Co")
    assert uid == "sensors-co"
    assert {d["meta"]["folderUid"] for d in grafana_standin.state.dashboards.values()} == {uid}


def test_standin_bad_token_is_reported(grafana_standin: StandIn) -> None:
    with pytest.raises(GrafanaPushError, match="token"):
        push(connect(grafana_standin.url, "wrong"), build_all())
    assert grafana_standin.state.dashboards == {}


def test_unreachable_grafana_is_reported() -> None:
    with pytest.raises(GrafanaPushError, match="cannot reach"):
        push(connect(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=2), build_all())


def test_standin_cli_push(grafana_standin: StandIn, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["dashboards", "push", "--url", grafana_standin.url, "--token", TOKEN, "--folder", "X"]
    assert main(args) == 0
    assert capsys.readouterr().out.count("created") == 4
    assert main(args) == 0
    assert capsys.readouterr().out.count("unchanged") == 4
    assert main([*args[:-3], "wrong", "--folder", "X"]) == 1
    assert "token" in capsys.readouterr().err


def test_cli_generate_check(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboards", "generate", "--check"]) == 0
    assert main(["dashboards", "generate", "--check", "--dir", str(tmp_path)]) == 1
    assert main(["dashboards", "generate", "--dir", str(tmp_path)]) == 0
    assert main(["dashboards", "generate", "--check", "--dir", str(tmp_path)]) == 0
