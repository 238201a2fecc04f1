"""The evaluator as separate processes (``lorawan-monitor alerts run``): kill -9 in the
middle, a restart, and two evaluators started at once on PostgreSQL. Real SMTP (aiosmtpd),
real registry databases; the processes run on the real clock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerts.state import AlertDb
from storage.registry import SqlRegistry
from tests.alerts.conftest import SmtpServer, add_device, uplink

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = """
defaults: {channels: [email]}
rules:
  - name: pegel-hoch
    kind: threshold
    quantity: water_level
    above: 2.5
    clear: 2.3
    severity: critical
    title: "Pegel {device_name}: {value_unit}"
"""


def now() -> datetime:
    return datetime.now(UTC)


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    # generous: a process start (imports, apprise) takes 10 s and more on a loaded machine
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


class Evaluators:
    def __init__(self, tmp: Path, dsn: str, smtp: SmtpServer) -> None:
        self.tmp, self.dsn, self.smtp = tmp, dsn, smtp
        (tmp / "rules.yaml").write_text(RULES, encoding="utf-8")
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, **extra: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LORAWAN_")}
        env |= extra
        env |= {
            "LORAWAN_STORAGE__DATA_DIR": str(self.tmp / "data"),
            "LORAWAN_STORAGE__REGISTRY_URL": self.dsn,
            "LORAWAN_ALERTS__CHANNELS__EMAIL": self.smtp.url("leitstelle@stadt.example"),
            "LORAWAN_ALERTS__RULES_FILE": extra.get(
                "LORAWAN_ALERTS__RULES_FILE", str(self.tmp / "rules.yaml")
            ),
            "LORAWAN_ALERTS__INTERVAL": "0.2",
            "LORAWAN_ALERTS__GROUP_WAIT": "0",
            "LORAWAN_ALERTS__RETRY_MIN": "0.2",
            "LORAWAN_ALERTS__RETRY_MAX": "0.5",
            "LORAWAN_ALERTS__LEASE_TTL": "2",
        }
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen(
            [sys.executable, "-m", "lorawan_monitor.cli", "alerts", "run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(p)
        return p

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def evaluators(tmp_path: Path, smtp: SmtpServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    made: list[Evaluators] = []

    def make(dsn: str) -> Evaluators:
        e = Evaluators(tmp_path, dsn, smtp)
        made.append(e)
        return e

    yield make
    for e in made:
        e.stop_all()


def test_kill_9_and_restart_neither_resend_nor_forget(tmp_path, smtp, evaluators):
    dsn = f"sqlite:///{tmp_path / 'registry.db'}"
    reg = SqlRegistry(dsn)
    db = AlertDb(reg.engine)
    ev = evaluators(dsn)
    try:
        add_device(reg, "70B3D57ED0000701", name="Pegel Altstadt", site="altstadt")
        add_device(reg, "70B3D57ED0000702", name="Pegel Neustadt", site="neustadt")
        smtp.stop()  # the mail server is down when the first alert fires
        uplink(reg, "70B3D57ED0000701", now(), (("water_level", "", 2.8),))
        a = ev.start("a")
        wait_for(lambda: any(r["attempts"] >= 2 for r in db.outbox()), what="failed attempts")
        a.send_signal(signal.SIGKILL)  # mid-retry
        a.wait(5)
        assert smtp.mails == []
        smtp.start()
        b = ev.start("b")  # takes over once a's lease expired; sends what a could not
        wait_for(lambda: len(smtp.mails) >= 1, what="the first mail")
        uplink(reg, "70B3D57ED0000702", now(), (("water_level", "", 2.9),))
        wait_for(lambda: len(smtp.mails) >= 2, what="the second mail")
        wait_for(lambda: all(r["status"] == "sent" for r in db.outbox()), what="marked sent")
        b.send_signal(signal.SIGKILL)  # after sending: a restart must not send again
        b.wait(5)
        ev.start("c")
        wait_for(lambda: "acting" in ev.log("c"), what="c taking over (lease 2 s)")
        time.sleep(1.0)  # c evaluates several cycles
        assert len(smtp.mails) == 2
        uplink(reg, "70B3D57ED0000701", now(), (("water_level", "", 2.0),))  # back under
        wait_for(lambda: len(smtp.mails) >= 3, what="the resolve mail")
        time.sleep(1.0)
        subjects = [m.subject for m in smtp.mails]
        assert subjects == [
            "[AUSGELÖST] Pegel Pegel Altstadt: 2,8 m",
            "[AUSGELÖST] Pegel Pegel Neustadt: 2,9 m",
            "[BEHOBEN] Pegel Pegel Altstadt: 2,8 m",
        ]
        assert all(m.to == ["leitstelle@stadt.example"] for m in smtp.mails)
        assert "acting" in ev.log("c")
        assert [a["id"] for a in db.active()] == ["pegel-hoch:70B3D57ED0000702"]
    finally:
        reg.close()


def test_two_evaluators_started_at_once_one_acts_postgres(tmp_path, smtp, evaluators, postgres_dsn):
    reg = SqlRegistry(postgres_dsn)
    ev = evaluators(postgres_dsn)
    try:
        add_device(reg, "70B3D57ED0000801", name="Pegel Hafen")
        uplink(reg, "70B3D57ED0000801", now(), (("water_level", "", 2.7),))
        p1, p2 = ev.start("p1"), ev.start("p2")
        wait_for(lambda: len(smtp.mails) >= 1, what="the mail")
        time.sleep(1.0)  # both run several cycles
        assert len(smtp.mails) == 1
        acting = [n for n in ("p1", "p2") if "acting" in ev.log(n)]
        assert len(acting) == 1, (ev.log("p1"), ev.log("p2"))
        leader, other = (p1, p2) if acting == ["p1"] else (p2, p1)
        leader.send_signal(signal.SIGKILL)
        leader.wait(5)
        add_device(reg, "70B3D57ED0000802", name="Pegel Werft")
        uplink(reg, "70B3D57ED0000802", now(), (("water_level", "", 2.6),))
        wait_for(lambda: len(smtp.mails) >= 2, what="the mail after take-over")
        time.sleep(1.0)
        assert [m.subject for m in smtp.mails] == [
            "[AUSGELÖST] Pegel Pegel Hafen: 2,7 m",
            "[AUSGELÖST] Pegel Pegel Werft: 2,6 m",
        ]
        assert other.poll() is None
    finally:
        reg.close()


def test_kill_9_after_the_webhook_took_the_message_resends_it_with_the_same_key(
    tmp_path, smtp, evaluators
):
    """The crash window between a channel's accept and the commit (#17): the receiver has
    the message when the evaluator is killed -9, before it could mark the rows sent. The
    next evaluator sends it again, with the same Idempotency-Key: at-least-once with a
    stable id, so the receiver can drop the second copy. Real webhook receiver, real
    processes, real SQLite registry."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from alerts.tables import alert_outbox
    from tests.servers import free_port

    received: list[tuple[str | None, dict[str, Any]]] = []
    victim: list[subprocess.Popen[bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            data = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            received.append((self.headers.get("Idempotency-Key"), data))
            if len(received) == 1 and victim:  # taken: the sender dies before its commit
                victim[0].send_signal(signal.SIGKILL)
                victim[0].wait(5)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rules = tmp_path / "hook-rules.yaml"
    rules.write_text(RULES.replace("channels: [email]", "channels: [ticket]"), encoding="utf-8")
    hook = {
        "LORAWAN_ALERTS__RULES_FILE": str(rules),
        "LORAWAN_ALERTS__CHANNELS__TICKET": f"json://127.0.0.1:{port}/hook",
    }
    dsn = f"sqlite:///{tmp_path / 'registry.db'}"
    reg = SqlRegistry(dsn)
    db = AlertDb(reg.engine)
    ev = evaluators(dsn)
    try:
        add_device(reg, "70B3D57ED0000901", name="Pegel Schleuse")
        uplink(reg, "70B3D57ED0000901", now(), (("water_level", "", 2.9),))
        victim.append(ev.start("a", **hook))
        wait_for(lambda: victim[0].poll() is not None, what="a killed in the send")
        [row] = db.outbox()
        assert row["status"] == "sending"  # recorded before the send; never marked sent
        # its claim (60 s, against a stalled sender) is what b waits for: let it end now
        with reg.engine.begin() as conn:
            conn.execute(alert_outbox.update().values(next_attempt_at=now()))
        ev.start("b", **hook)  # takes over once a's lease (2 s) expired
        wait_for(lambda: len(received) >= 2, what="the message sent again")
        wait_for(lambda: db.outbox()[0]["status"] == "sent", what="marked sent")
        time.sleep(1.0)  # b runs several cycles: nothing more
        assert len(received) == 2
        (k1, m1), (k2, m2) = received
        assert k1 is not None and k1 == k2  # one id: the receiver can drop the copy
        assert m1 == m2 and m1["title"] == "[AUSGELÖST] Pegel Pegel Schleuse: 2,9 m"
    finally:
        server.shutdown()
        server.server_close()
        reg.close()
