"""Start real mosquitto / influxd / PostgreSQL servers on free loopback ports.

Used by the pytest fixtures (tests/conftest.py) and by the benchmarks (bench/).
Each server gets a temporary data directory and is stopped (and its files removed)
afterwards. Nothing here mocks a server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(
    port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _need(binary: str, package: str) -> str:
    path = shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.path.exists(p)), None
    )
    if not path:
        raise RuntimeError(
            f"{binary} not found: install the Debian package {package!r} (make deps)"
        )
    return path


@dataclass
class Mosquitto:
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    extra_conf: str = ""

    def start(self) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            # a consumer that falls behind must not lose QoS-1 messages in tests/benchmarks
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            "max_keepalive 65535\n"
            # started as root, mosquitto switches to the `mosquitto` user, which cannot write
            # its persistence file into our temporary directory: a restart would lose sessions
            + ("user root\n" if os.geteuid() == 0 and "user " not in self.extra_conf else "")
            + self.extra_conf
        )
        log = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [_need("mosquitto", "mosquitto"), "-c", str(conf)], stdout=log, stderr=log
        )
        wait_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class Influxd:
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        rpc = free_port()
        conf = self.workdir / "influxdb.conf"
        d = self.workdir
        conf.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{rpc}"\n'
            f'[meta]\n  dir = "{d}/meta"\n'
            f'[data]\n  dir = "{d}/data"\n  wal-dir = "{d}/wal"\n  query-log-enabled = false\n'
            '  index-version = "inmem"\n'
            '[coordinator]\n  log-queries-after = "0s"\n'
            f'[http]\n  enabled = true\n  bind-address = "127.0.0.1:{self.port}"\n'
            "  log-enabled = false\n  max-body-size = 0\n"
            "[monitor]\n  store-enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
            '[logging]\n  level = "warn"\n'
        )
        log = open(self.workdir / "influxd.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [_need("influxd", "influxdb"), "-config", str(conf)], stdout=log, stderr=log
        )
        wait_port(self.port, timeout=30, proc=self.proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 204:
                    return
            time.sleep(0.1)
        raise TimeoutError("influxd did not answer /ping")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def query(self, q: str, db: str = "lorawan") -> dict:  # type: ignore[type-arg]
        r = httpx.get(f"{self.url}/query", params={"db": db, "q": q, "epoch": "ns"}, timeout=30)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def create_database(self, db: str = "lorawan") -> None:
        httpx.post(
            f"{self.url}/query", params={"q": f'CREATE DATABASE "{db}"'}, timeout=10
        ).raise_for_status()

    def drop_database(self, db: str = "lorawan") -> None:
        httpx.post(
            f"{self.url}/query", params={"q": f'DROP DATABASE "{db}"'}, timeout=10
        ).raise_for_status()


def mosquitto_auth_conf(workdir: Path, users: dict[str, str], acl: str) -> str:
    """Config lines for a broker with logins (``mosquitto_passwd``) and an ACL file: no
    anonymous access, each user reads/writes only what ``acl`` grants (mosquitto.conf(5))."""
    passwd = workdir / "passwd"
    passwd.write_text("")
    for user, password in users.items():
        subprocess.run(
            [_need("mosquitto_passwd", "mosquitto"), "-b", str(passwd), user, password],
            check=True,
            capture_output=True,
        )
    acl_file = workdir / "acl"
    acl_file.write_text(acl)
    # read as the `mosquitto` user when the broker drops root
    for f in (passwd, acl_file):
        f.chmod(0o644)
    return f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl_file}\n"


@contextlib.contextmanager
def running_mosquitto(extra_conf: str = "") -> Iterator[Mosquitto]:
    with tempfile.TemporaryDirectory(prefix="lm-mosquitto-") as d:
        m = Mosquitto(port=free_port(), workdir=Path(d), extra_conf=extra_conf)
        m.start()
        try:
            yield m
        finally:
            m.stop()


@contextlib.contextmanager
def running_influxd() -> Iterator[Influxd]:
    with tempfile.TemporaryDirectory(prefix="lm-influxd-") as d:
        i = Influxd(port=free_port(), workdir=Path(d))
        i.start()
        try:
            yield i
        finally:
            i.stop()


@dataclass
class Postgres:
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes]
    argv: tuple[str, ...] = ()

    def stop(self) -> None:
        """Stop the server now (fast shutdown: open sessions are cut, as in an outage)."""
        if self.proc.poll() is None:
            # the postmaster itself (under root, self.proc is runuser, which does not pass
            # SIGINT on); its pid is the first line of postmaster.pid
            pid_file = self.workdir / "data" / "postmaster.pid"
            pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else self.proc.pid
            os.kill(pid, signal.SIGINT)
            self.proc.wait(30)

    def start(self) -> None:
        """Start it again on the same port and data directory (after :meth:`stop`)."""
        log = open(self.workdir / "postgres.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(list(self.argv), stdout=log, stderr=log)
        wait_port(self.port, timeout=30, proc=self.proc)
        _wait_ready(self.port, self.proc)

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def create_database(self, name: str) -> str:
        """Create a database; return its SQLAlchemy DSN."""
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.dsn(name)

    def dsn(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found: install the Debian package 'postgresql' (make deps)")
    return found[-1]


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """The port opens before recovery ends ("the database system is starting up")."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres").close()
            return
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster (initdb + postgres from /usr/lib/postgresql/*/bin) on a
    free loopback port, data and unix socket in a temporary directory; never the system's
    5432. initdb refuses root, so under root it runs as the ``postgres`` user (runuser)."""
    workdir = Path(tempfile.mkdtemp(prefix="lm-pg-"))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
    data = workdir / "data"
    try:
        subprocess.run(
            _as_postgres(
                [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
                + ["-E", "UTF8", "--locale=C", "--no-sync"]
            ),
            check=True,
            capture_output=True,
        )
        port = free_port()
        log = open(workdir / "postgres.log", "ab")  # noqa: SIM115
        argv = _as_postgres(
            [_pg_bin("postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1"]
            + ["-k", str(workdir), "-F", "-c", "full_page_writes=off"]
            + ["-c", "synchronous_commit=off"]
        )
        server = Postgres(
            port=port,
            workdir=workdir,
            proc=subprocess.Popen(argv, stdout=log, stderr=log),
            argv=tuple(argv),
        )
        try:
            wait_port(port, timeout=30, proc=server.proc)
            _wait_ready(port, server.proc)
            yield server
        finally:
            proc = server.proc
            proc.terminate()  # SIGTERM = smart shutdown; sessions are closed by now
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
