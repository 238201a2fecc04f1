"""``ingest --workers N``: a supervisor that supervises (#20).

* **One per data dir.** The supervisor (and a single ``ingest``) holds an exclusive
  ``fcntl`` lock on ``<data_dir>/ingest.pid``; a second start on the same data dir refuses
  with the running one's pid. Each worker locks its own ``<data_dir>/worker-<n>``, so a
  worker never shares its buffer (or its broker session) with a leftover process.
* **A dead worker is restarted**, with backoff (1 s doubling to 60 s, reset after a
  minute of running), counted and logged; the others keep running.
* **Workers die with it**: ``PR_SET_PDEATHSIG`` (Linux, via ``prctl``) sends them SIGTERM
  when the supervisor dies, however it dies; where that is missing they watch a pipe
  whose write end only the supervisor holds (EOF = the supervisor is gone).
* **Scaling without loss**: the members (client id, data dir, topic filters) are recorded
  in ``<data_dir>/ingest-members.json``. A start with another layout first *drains* every
  recorded member that is not in the new one: a short-lived process connects as that
  client id (resuming its persistent session), unsubscribes its filters, processes what
  the broker queued for it into that member's own buffer, writes it out, and disconnects
  with session expiry 0 — the broker forgets the session, and nothing stays queued for
  a worker that will not come back. ``ingest --leave`` drains every member (a host
  leaving the share group for good).

Lean: ``lorawan-monitor ingest --workers N`` reads and validates the settings, takes the
data-dir lock, drains retired members, and then ``os.execve``-s this module
(``python -m lorawan_monitor.supervisor SPEC``, same pid, the lock's file descriptor kept
open across the exec) with what it needs as JSON (:func:`exec_supervisor`). The running
supervisor therefore imports only the standard library (and lorawan_monitor.errors):
no settings (pydantic), ingest pipeline, paho, SQLAlchemy or decoders (#19; 13 MB peak
RSS instead of 46 MB). Workers and drains are subprocesses
(``python -m lorawan_monitor.cli ingest``).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from lorawan_monitor.errors import ConfigError

log = logging.getLogger("lorawan_monitor.supervisor")

LOCK_FILE = "ingest.pid"
MEMBERS_FILE = "ingest-members.json"
#: environment of a process started by the supervisor
ENV_NAME = "LORAWAN_WORKER_NAME"
#: the worker's number, 1 .. N (``ingest --workers N``; which sources it serves, #16)
ENV_INDEX = "LORAWAN_WORKER_INDEX"
ENV_PIPE = "LORAWAN_SUPERVISOR_FD"
ENV_DRAIN = "LORAWAN_INGEST_DRAIN_TOPICS"
#: set for a drain of the member whose data dir is the supervisor's own (locked by it)
ENV_ROOT_LOCKED = "LORAWAN_INGEST_DRAIN_IN_ROOT"
#: exit code of a worker that found its data dir locked by another process (retried)
EXIT_LOCKED = 75
_PR_SET_PDEATHSIG = 1
_HELD: list[DataDirLock] = []


# -- the data-dir lock -------------------------------------------------------------------


class DataDirLock:
    """An exclusive lock on ``<dir>/ingest.pid`` holding the owner's pid; released when the
    process ends, however it ends (the kernel drops ``flock`` locks with the file)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._fh: IO[str] | None = None

    def acquire(self, *, wait: float = 0.0, what: str = "ingest") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 (held for the process's lifetime)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    pid = fh.read().strip() or "?"
                    fh.close()
                    raise ConfigError(
                        f"another {what} (pid {pid}) is running on this data directory "
                        f"({self.path.parent}, LORAWAN_STORAGE__DATA_DIR); stop it first, or "
                        "give this one its own LORAWAN_STORAGE__DATA_DIR and "
                        "LORAWAN_MQTT__CLIENT_ID"
                    ) from None
                time.sleep(0.2)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        _HELD.append(self)  # a lock must not end with the last reference to this object

    def keep_across_exec(self) -> int:
        """The locked file descriptor, to stay open (and locked) through ``os.execve``."""
        assert self._fh is not None
        fd = self._fh.fileno()
        os.set_inheritable(fd, True)
        return fd

    @classmethod
    def adopt(cls, directory: Path, fd: int) -> DataDirLock:
        """The lock an exec'd process holds already, by the descriptor it inherited."""
        lock = cls(directory)
        os.set_inheritable(fd, False)  # never into the workers
        lock._fh = open(fd, "a+", closefd=True)  # noqa: SIM115 (held for the process's lifetime)
        _HELD.append(lock)
        return lock

    def release(self) -> None:
        if self in _HELD:
            _HELD.remove(self)
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# -- members: who holds a broker session -------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One ingest process's identity on the broker and on disk."""

    name: str
    client_id: str
    data_dir: str
    topics: tuple[str, ...]
    share_group: str | None = None


def members_for(
    workers: int, base_id: str, data_dir: Path, topics: Sequence[str], group: str | None
) -> list[Member]:
    """The members of ``ingest`` (1) or ``ingest --workers N``: worker *n* has the client id
    ``<base>-<n>`` and the data dir ``<data_dir>/worker-<n>``."""
    if workers <= 1:
        filters = tuple(f"$share/{group}/{t}" if group else t for t in topics)
        return [Member("ingest", base_id, str(data_dir), filters, group)]
    grp = group or "lorawan-monitor"
    filters = tuple(f"$share/{grp}/{t}" for t in topics)
    return [
        Member(f"worker-{n}", f"{base_id}-{n}", str(data_dir / f"worker-{n}"), filters, grp)
        for n in range(1, workers + 1)
    ]


@dataclass
class Layout:
    """``<data_dir>/ingest-members.json``: the members now, and retired members whose drain
    has not succeeded yet (tried again at the next start)."""

    members: list[Member] = field(default_factory=list)
    retired: list[Member] = field(default_factory=list)

    @classmethod
    def load(cls, data_dir: Path) -> Layout:
        path = data_dir / MEMBERS_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable ({exc}); remove it after checking") from exc

        def load_all(items: Any) -> list[Member]:
            return [
                Member(
                    name=i["name"],
                    client_id=i["client_id"],
                    data_dir=i["data_dir"],
                    topics=tuple(i["topics"]),
                    share_group=i.get("share_group"),
                )
                for i in items or ()
            ]

        return cls(load_all(raw.get("members")), load_all(raw.get("retired")))

    def save(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / MEMBERS_FILE
        tmp = path.with_suffix(".tmp")
        body = {
            "members": [asdict(m) for m in self.members],
            "retired": [asdict(m) for m in self.retired],
        }
        tmp.write_text(json.dumps(body, indent=1))
        os.replace(tmp, path)


def ingest_command(*extra: str) -> list[str]:
    return [sys.executable, "-m", "lorawan_monitor.cli", "ingest", *extra]


def member_env(base: dict[str, str], m: Member) -> dict[str, str]:
    env = dict(base)
    env.update(
        {
            ENV_NAME: m.name,
            "LORAWAN_MQTT__CLIENT_ID": m.client_id,
            "LORAWAN_STORAGE__DATA_DIR": m.data_dir,
        }
    )
    if m.share_group:
        env["LORAWAN_MQTT__SHARE_GROUP"] = m.share_group
    else:
        env.pop("LORAWAN_MQTT__SHARE_GROUP", None)
    return env


def member_index(m: Member) -> int | None:
    """Worker *n*'s number (``worker-<n>``, :func:`members_for`); None for ``ingest``."""
    prefix, _, number = m.name.partition("-")
    return int(number) if prefix == "worker" and number.isdigit() else None


def drain(
    retired: Sequence[Member],
    base_env: dict[str, str],
    *,
    root: Path,
    timeout: float = 300.0,
    extra_args: Sequence[str] = (),
) -> list[Member]:
    """Drain the broker sessions (and buffers) of ``retired`` members, in parallel; returns
    the members whose drain did not finish (they stay recorded as retired)."""
    if not retired:
        return []
    procs = []
    for m in retired:
        env = member_env(base_env, m)
        env[ENV_NAME] = f"drain-{m.name}"
        env[ENV_DRAIN] = json.dumps(list(m.topics))
        env["LORAWAN_INGEST__METRICS_PORT"] = "0"
        env.pop("LORAWAN_INGEST__DEVICES_FILE", None)
        env.pop(ENV_ROOT_LOCKED, None)
        env.pop(ENV_INDEX, None)
        index = member_index(m)
        if index is not None:  # its sessions on the sources it served (#16)
            env[ENV_INDEX] = str(index)
        if Path(m.data_dir).resolve() == root.resolve():
            env[ENV_ROOT_LOCKED] = "1"
        log.info(
            "draining the retired %s (client id %s): its queued messages into %s",
            m.name,
            m.client_id,
            m.data_dir,
        )
        procs.append((m, subprocess.Popen([*ingest_command(*extra_args), "--drain"], env=env)))
    failed = []
    deadline = time.monotonic() + timeout
    for m, p in procs:
        try:
            code = p.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            code = p.wait()
        if code != 0:
            log.error(
                "draining %s (client id %s) did not finish (exit %s); tried again at the next "
                "start",
                m.name,
                m.client_id,
                code,
            )
            failed.append(m)
    return failed


def change_layout(
    data_dir: Path, new: Sequence[Member], base_env: dict[str, str], extra_args: Sequence[str]
) -> None:
    """Before ``new`` starts: drain every recorded member that is not in it, then record
    ``new`` (with what could not be drained)."""
    layout = Layout.load(data_dir)
    keep = set(new)
    retired = [m for m in layout.retired if m not in keep]
    retired += [m for m in layout.members if m not in keep and m not in retired]
    if retired:
        log.info(
            "worker layout changed (%d -> %d members): draining %d retired broker session(s)",
            len(layout.members),
            len(new),
            len(retired),
        )
    # recorded before the drains: a crash during them leaves both lists, both drained again
    Layout(members=list(new), retired=retired).save(data_dir)
    failed = drain(retired, base_env, root=data_dir, extra_args=extra_args)
    Layout(members=list(new), retired=failed).save(data_dir)


# -- dying with the supervisor -----------------------------------------------------------


def _pdeathsig() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os._exit(1)

    return preexec


def watch_supervisor(on_gone: Callable[[], None]) -> bool:
    """In a worker: call ``on_gone`` when the supervisor's pipe closes (it died). True when
    started by a supervisor."""
    fd_text = os.environ.get(ENV_PIPE)
    if not fd_text:
        return False
    fd = int(fd_text)

    def watch() -> None:
        try:
            while os.read(fd, 64):
                pass
        except OSError:
            pass
        log.warning("the supervisor is gone; stopping")
        on_gone()

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
    return True


# -- the supervisor ----------------------------------------------------------------------


@dataclass
class _Worker:
    member: Member
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    backoff: float = 0.0
    due: float = 0.0  # monotonic time of the next start (after a death)


class Supervisor:
    def __init__(
        self,
        members: Sequence[Member],
        base_env: dict[str, str],
        *,
        extra_args: Sequence[str] = (),
        min_backoff: float = 1.0,
        max_backoff: float = 60.0,
        stable_after: float = 60.0,
    ) -> None:
        self.min_backoff, self.max_backoff, self.stable_after = (
            min_backoff,
            max_backoff,
            stable_after,
        )
        self._extra = list(extra_args)
        self._read_fd, self._write_fd = os.pipe()  # both non-inheritable
        self._preexec = _pdeathsig()
        self.workers = []
        for m in members:
            env = member_env(base_env, m)
            env[ENV_PIPE] = str(self._read_fd)
            self.workers.append(_Worker(m, env))
        #: worker restarts since start
        self.restarts = 0

    def _spawn(self, w: _Worker) -> None:
        w.proc = subprocess.Popen(
            ingest_command(*self._extra),
            env=w.env,
            pass_fds=(self._read_fd,),
            preexec_fn=self._preexec,  # noqa: PLW1509 (no threads run in the supervisor)
        )
        w.started = time.monotonic()

    def run(self, stop: threading.Event) -> int:
        for w in self.workers:
            self._spawn(w)
        group = self.workers[0].member.share_group if self.workers else None
        log.info(
            "started %d ingest workers on $share/%s/... (pids %s)",
            len(self.workers),
            group,
            ", ".join(str(w.proc.pid) for w in self.workers if w.proc),
        )
        while not stop.wait(0.2):
            self._tend()
        return self._shutdown()

    def _tend(self) -> None:
        now = time.monotonic()
        for w in self.workers:
            if w.proc is None:
                if now >= w.due:
                    self._spawn(w)
                    assert w.proc is not None
                    log.info("%s restarted (pid %d)", w.member.name, w.proc.pid)
                continue
            code = w.proc.poll()
            if code is None:
                continue
            ran = now - w.started
            if ran >= self.stable_after:
                w.backoff = 0.0
            w.backoff = min(max(self.min_backoff, w.backoff * 2), self.max_backoff)
            w.restarts += 1
            self.restarts += 1
            how = f"signal {-code}" if code < 0 else f"code {code}"
            log.error(
                "%s (pid %d) exited with %s after %.0f s; restart %d in %.0f s, the other "
                "workers keep running",
                w.member.name,
                w.proc.pid,
                how,
                ran,
                w.restarts,
                w.backoff,
            )
            w.proc, w.due = None, now + w.backoff

    def _shutdown(self, timeout: float = 60.0) -> int:
        live = [w.proc for w in self.workers if w.proc is not None and w.proc.poll() is None]
        for p in live:
            p.terminate()
        deadline = time.monotonic() + timeout
        codes = []
        for w in self.workers:
            if w.proc is None:
                codes.append(1)
                continue
            try:
                codes.append(w.proc.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                log.error("%s did not stop in %.0f s; killed", w.member.name, timeout)
                w.proc.kill()
                codes.append(w.proc.wait())
        os.close(self._write_fd)
        os.close(self._read_fd)
        # a worker stopped by our SIGTERM before it had installed its handler (still
        # starting) ends "killed by SIGTERM": that is the clean stop we asked for (#19)
        return 0 if all(c in (0, -signal.SIGTERM) for c in codes) else 1


# -- the exec'd supervisor process ------------------------------------------------------


def exec_supervisor(
    members: Sequence[Member],
    env: dict[str, str],
    *,
    lock: DataDirLock,
    extra_args: Sequence[str],
    metrics_port: int,
    verbose: bool,
) -> None:
    """Replace this process (same pid) by a fresh interpreter running :func:`main`: the
    settings were read and checked here, the supervisor needs only what is in the spec."""
    spec = {
        "members": [asdict(m) for m in members],
        "data_dir": str(Path(lock.path).parent),
        "lock_fd": lock.keep_across_exec(),
        "extra_args": list(extra_args),
        "metrics_port": metrics_port,
        "verbose": verbose,
    }
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    argv = [sys.executable, "-m", "lorawan_monitor.supervisor", json.dumps(spec)]
    os.execve(sys.executable, argv, env)


def main(argv: Sequence[str]) -> int:
    """``python -m lorawan_monitor.supervisor SPEC``: started by :func:`exec_supervisor`."""
    if len(argv) != 2:
        sys.stderr.write("lorawan_monitor.supervisor: started by `lorawan-monitor ingest`\n")
        return 2
    spec = json.loads(argv[1])
    logging.basicConfig(
        level=logging.DEBUG if spec.get("verbose") else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    DataDirLock.adopt(Path(spec["data_dir"]), int(spec["lock_fd"]))
    members = [Member(**{**m, "topics": tuple(m["topics"])}) for m in spec["members"]]
    sup = Supervisor(members, dict(os.environ), extra_args=spec["extra_args"])
    port = int(spec["metrics_port"])
    for n, w in enumerate(sup.workers, start=1):
        w.env[ENV_INDEX] = str(n)  # which sources it serves (#16)
        w.env["LORAWAN_INGEST__METRICS_PORT"] = str(port + n - 1 if port else 0)
        if n > 1:
            w.env.pop("LORAWAN_INGEST__DEVICES_FILE", None)  # imported once, by worker 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        return sup.run(stop)
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv))
