"""Side by side (#19): lorawan-monitor against Node-RED and a minimal Python consumer, on the
same broker, the same InfluxDB and the same pre-generated workload, interleaved in one run.

Consumers, one run each per round, in this order every round:

* ``node-red``: Node-RED 4.1 + node-red-contrib-influxdb, ``bench/node-red/flow.json``
  (MQTT in, QoS 1 -> LHT65 decode -> join 5,000 / 1 s -> batch write to InfluxDB v1);
  installed by ``make bench-peers`` into bench/.node-red (npm), never by the tests;
* ``python-minimal``: ``bench/peer_minimal.py`` (paho -> orjson -> decode -> 5,000-line
  POSTs; no validation, no registry, no durable buffer);
* ``lm-1``: ``lorawan-monitor ingest`` (full pipeline, SQLite registry, durable buffer
  committed before the PUBACK);
* ``lm-2``: ``lorawan-monitor ingest --workers 2`` (supervisor + two workers on one
  MQTT 5 shared subscription);
* ``base-1``, ``base-2``: the same, from another source tree (``--baseline-tree DIR``, e.g.
  ``git archive main | tar -x -C DIR``), to measure a change against it in one run.

Workload: N (60,000) The Things Stack v3 uplinks of ~1 KB from 50 Dragino LHT65 devices
(``version_ids`` dragino/lht65), one topic per device, QoS 1, published live with
bench/fastpub.py (pre-encoded packets). Every run uses a fresh MQTT client id, a clean
session and its own InfluxDB database, so nothing of an earlier run is replayed into it.
A run starts once a warm-up uplink has gone all the way into that run's database, and is
timed from the first publish to the last ``lorawan_uplink`` point queryable.

Prints per run and in summary: uplinks/s, lost, peak RSS summed over all of a consumer's
processes, consumer CPU per uplink, the machine's load from processes outside the bench
(other work on the same cores), and each consumer's ratio to Node-RED in the same round.

    make bench-peers                     # setup + 3 rounds
    .venv/bin/python bench/peers.py --rounds 2 [--count 60000] [--only node-red,lm-2]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fastpub import publish_all  # noqa: E402
from simulator.fleet import SimMessage, VirtualDevice, generate, uplink  # noqa: E402
from tests.servers import Influxd, Mosquitto, running_influxd, running_mosquitto  # noqa: E402

NODE_RED_DIR = ROOT / "bench" / ".node-red"
NODE_RED_JS = NODE_RED_DIR / "node_modules" / "node-red" / "red.js"
CONSUMERS = ("node-red", "python-minimal", "lm-1", "lm-2", "base-1", "base-2")
#: another source tree of lorawan-monitor for ``base-1`` / ``base-2`` (``--baseline-tree``)
BASELINE_TREE: Path | None = None
_TICK = os.sysconf("SC_CLK_TCK")


# -- processes -----------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d.name))
    return kids


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (a supervisor and its workers)."""
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def peak_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine used so far (every core)."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    return (sum(parts[:8]) - idle) / _TICK


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the consumer's process group, SIGKILL what is left after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


# -- workload ------------------------------------------------------------------------------


def _device(name: str) -> VirtualDevice:
    eui = "70B3D5" + hashlib.sha256(name.encode()).hexdigest()[:10].upper()
    return VirtualDevice(
        name=name, dev_eui=eui, network="tts", behaviour="lht65", model_id="dragino/lht65"
    )


def workload(count: int, devices: int) -> tuple[list[tuple[str, bytes]], tuple[str, bytes]]:
    """The uplinks of every run, and the warm-up uplink (its own device)."""
    fleet = [_device(f"lht65-bench-{i:02d}") for i in range(devices)]
    msgs = list(generate(fleet, start=datetime(2026, 6, 1, tzinfo=UTC), count=count, seed=19))
    warm: SimMessage = uplink(
        _device("lht65-warmup"), datetime(2026, 5, 1, tzinfo=UTC), 1, random.Random(1)
    )
    return [(m.topic, m.payload) for m in msgs], (warm.topic, warm.payload)


# -- consumers -----------------------------------------------------------------------------


@dataclass
class Env:
    mq: Mosquitto
    ix: Influxd
    tmp: Path
    profile: Path | None = None
    py_spy: str = "py-spy"


def _log(env: Env, name: str) -> int:
    return os.open(env.tmp / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def _popen(cmd: list[str], env: dict[str, str], log: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, env=env, stdout=log, stderr=log, start_new_session=True, cwd=str(ROOT)
    )


def start_node_red(e: Env, run_id: str, db: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        {
            "MQTT_HOST": "127.0.0.1",
            "MQTT_PORT": str(e.mq.port),
            "MQTT_CLIENT_ID": f"bench-nr-{run_id}",
            "INFLUX_HOST": "127.0.0.1",
            "INFLUX_PORT": str(e.ix.port),
            "INFLUX_DB": db,
            "NODE_RED_PORT": str(_free_port()),
        }
    )
    cmd = ["node", str(NODE_RED_JS), "--settings", str(ROOT / "bench" / "node-red" / "settings.js")]
    return _popen(cmd, env, _log(e, f"node-red-{run_id}"))


def start_minimal(e: Env, run_id: str, db: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(ROOT / "bench" / "peer_minimal.py"), "127.0.0.1",
           str(e.mq.port), f"bench-py-{run_id}", e.ix.url, db]  # fmt: skip
    return _popen(cmd, dict(os.environ), _log(e, f"python-{run_id}"))


def _start_lm(
    e: Env, run_id: str, db: str, workers: int, tree: Path | None = None
) -> subprocess.Popen[bytes]:
    """``lorawan-monitor ingest`` of this checkout, or of the source tree ``tree`` (an
    older version, e.g. ``git archive REV | tar -x -C DIR``) with this venv's packages."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    data = e.tmp / f"lm-{run_id}"
    env.update(
        {
            "LORAWAN_MQTT__HOST": "127.0.0.1",
            "LORAWAN_MQTT__PORT": str(e.mq.port),
            "LORAWAN_MQTT__CLIENT_ID": f"bench-lm-{run_id}",
            "LORAWAN_MQTT__QOS": "1",
            "LORAWAN_MQTT__SESSION_EXPIRY": "0",  # clean session: no earlier run replays
            "LORAWAN_MQTT__SHARE_GROUP": f"bench-{run_id}",
            "LORAWAN_INFLUX__URL": e.ix.url,
            "LORAWAN_INFLUX__DATABASE": db,
            "LORAWAN_STORAGE__DATA_DIR": str(data),
            "LORAWAN_STORAGE__REGISTRY_URL": f"sqlite:///{data}/registry.db",
            "LORAWAN_INGEST__METRICS_PORT": "0",
        }
    )
    if workers == 1:
        env.pop("LORAWAN_MQTT__SHARE_GROUP")
    data.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "lorawan_monitor.cli", "ingest"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    log = _log(e, f"{'base' if tree else 'lm'}{workers}-{run_id}")
    if tree is None:
        return _popen(cmd, env, log)
    return subprocess.Popen(
        cmd, env=env, stdout=log, stderr=log, start_new_session=True, cwd=str(tree)
    )


STARTERS: dict[str, Callable[[Env, str, str], subprocess.Popen[bytes]]] = {
    "node-red": start_node_red,
    "python-minimal": start_minimal,
    "lm-1": lambda e, r, d: _start_lm(e, r, d, 1),
    "lm-2": lambda e, r, d: _start_lm(e, r, d, 2),
    "base-1": lambda e, r, d: _start_lm(e, r, d, 1, BASELINE_TREE),
    "base-2": lambda e, r, d: _start_lm(e, r, d, 2, BASELINE_TREE),
}


def _free_port() -> int:
    from tests.servers import free_port

    return free_port()


# -- one run -------------------------------------------------------------------------------


@dataclass
class Run:
    round: int
    consumer: str
    uplinks_per_s: float
    lost: int
    peak_rss_mb: float
    processes: int
    cpu_us_per_uplink: float
    other_load_cores: float  # CPU of processes outside the bench, in cores, during the run
    loadavg_1m: float
    seconds: float
    rss_each_mb: tuple[float, ...] = ()
    ratio_to_node_red: float | None = None


def _profile(e: Env, pid: int, name: str) -> subprocess.Popen[bytes] | None:
    """py-spy on a consumer's processes for the timed window only: sampled stacks per thread,
    collapsed (the run's figures then include py-spy's cost and are not to be quoted)."""
    if e.profile is None:
        return None
    out = e.profile / f"{name}.txt"
    cmd = [e.py_spy, "record", "--pid", str(pid), "--subprocesses", "--threads", "--format",
           "raw", "--rate", "200", "--nonblocking", "-o", str(out)]  # fmt: skip
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the first publish
    return spy


def _count(ix: Influxd, db: str) -> int:
    res = ix.query('SELECT count("f_cnt") FROM "lorawan_uplink"', db=db)
    series = res["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def one_run(
    e: Env,
    rnd: int,
    name: str,
    messages: list[tuple[str, bytes]],
    warm: tuple[str, bytes],
    stall: float,
) -> Run:
    run_id = f"{rnd}-{name}-{uuid.uuid4().hex[:6]}"
    db = "peers_" + run_id.replace("-", "_")
    e.ix.create_database(db)
    proc = STARTERS[name](e, run_id, db)
    try:
        deadline = time.monotonic() + 120
        n = 0
        while _count(e.ix, db) < 1:  # warm-up: subscribed, decoding, writing
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start; see {e.tmp}/*{run_id}*.log")
            if n % 10 == 0:
                publish_all("127.0.0.1", e.mq.port, [warm], client_id=f"warm-{run_id}-{n}")
            n += 1
            time.sleep(0.1)
        time.sleep(2.0)  # every worker subscribed; start-up work settled
        loadavg = os.getloadavg()[0]
        pids = process_tree(proc.pid)
        broker = [p for p in (e.mq.proc, e.ix.proc) if p is not None]
        ours0 = sum(cpu_seconds(p) for p in pids) + sum(cpu_seconds(p.pid) for p in broker)
        cpu0 = sum(cpu_seconds(p) for p in pids)
        spy = _profile(e, proc.pid, f"{name}-{run_id}") if name.startswith("lm") else None
        busy0, self0 = machine_busy_seconds(), time.process_time()
        start = time.perf_counter()
        publish_all("127.0.0.1", e.mq.port, messages, client_id=f"pub-{run_id}")
        want = len(messages) + 1
        stored, last, last_change = 0, -1, time.monotonic()
        while stored < want and time.monotonic() - last_change < stall:
            stored = _count(e.ix, db)
            if stored != last:
                last, last_change = stored, time.monotonic()
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
        pids = process_tree(proc.pid)  # the workers, as they are now
        cpu = sum(cpu_seconds(p) for p in pids) - cpu0
        ours = sum(cpu_seconds(p) for p in pids) + sum(cpu_seconds(p.pid) for p in broker) - ours0
        other = machine_busy_seconds() - busy0 - ours - (time.process_time() - self0)
        rss_each = tuple(round(peak_rss_mb(p)) for p in pids)
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
            spy.wait(60)
    finally:
        stop_tree(proc)
        with contextlib.suppress(Exception):
            e.ix.drop_database(db)
    got = stored - 1
    return Run(
        round=rnd,
        consumer=name,
        uplinks_per_s=got / elapsed,
        lost=len(messages) - got,
        peak_rss_mb=float(sum(rss_each)),
        processes=len(pids),
        rss_each_mb=tuple(float(x) for x in rss_each),
        cpu_us_per_uplink=cpu / max(got, 1) * 1e6,
        other_load_cores=max(0.0, other / elapsed),
        loadavg_1m=loadavg,
        seconds=elapsed,
    )


def _fmt(r: Run) -> str:
    ratio = "" if r.ratio_to_node_red is None else f"  {r.ratio_to_node_red:.2f}x Node-RED"
    return (
        f"round {r.round}  {r.consumer:<15} {r.uplinks_per_s:>8,.0f} uplinks/s  lost {r.lost:>5}"
        f"  peak RSS {r.peak_rss_mb:>5.0f} MB"
        + (f" ({'+'.join(f'{x:.0f}' for x in r.rss_each_mb)})" if r.processes > 1 else "")
        + f"  CPU {r.cpu_us_per_uplink:>4.0f} us/uplink  other load {r.other_load_cores:.2f} cores"
        f"  loadavg {r.loadavg_1m:.1f}{ratio}"
    )


def summary(runs: list[Run]) -> Iterator[str]:
    names = list(dict.fromkeys(r.consumer for r in runs))
    yield "consumer         uplinks/s median (min-max)   ratio to Node-RED per round    " \
          "peak RSS MB     CPU us/uplink (x Node-RED's)  lost"  # fmt: skip
    for n in names:
        rs = [r for r in runs if r.consumer == n]
        rate = [r.uplinks_per_s for r in rs]
        ratios = [r.ratio_to_node_red for r in rs if r.ratio_to_node_red is not None]
        rss = [r.peak_rss_mb for r in rs]
        cpu = [r.cpu_us_per_uplink for r in rs]
        nr_cpu = statistics.median(
            [r.cpu_us_per_uplink for r in runs if r.consumer == "node-red"] or [float("nan")]
        )
        yield (
            f"{n:<15} {statistics.median(rate):>8,.0f} ({min(rate):,.0f}-{max(rate):,.0f})"
            f"   {' '.join(f'{x:.2f}' for x in ratios) or '-':<30}"
            f" {min(rss):.0f}-{max(rss):.0f}"
            f"        {min(cpu):.0f}-{max(cpu):.0f} ({statistics.median(cpu) / nr_cpu:.2f}x)"
            f"       {sum(r.lost for r in rs)}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=60000)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument(
        "--only",
        default=None,
        help="comma-separated consumers (default: all; base-1 / base-2 only with --baseline-tree)",
    )
    ap.add_argument("--stall", type=float, default=30, help="give up after N s without progress")
    ap.add_argument("--json", type=Path, help="also write every run here")
    ap.add_argument(
        "--profile",
        type=Path,
        help="record the lorawan-monitor runs with py-spy into this folder (collapsed stacks)",
    )
    ap.add_argument("--py-spy", default="py-spy", help="the py-spy executable for --profile")
    ap.add_argument(
        "--baseline-tree",
        type=Path,
        help="another lorawan-monitor source tree for the consumers base-1 / base-2 "
        "(e.g. `git archive main | tar -x -C /tmp/base`): this branch against it, in one run",
    )
    args = ap.parse_args()
    global BASELINE_TREE
    BASELINE_TREE = args.baseline_tree
    if args.only is None:
        names = [n for n in CONSUMERS if args.baseline_tree or not n.startswith("base-")]
    else:
        names = [n for n in args.only.split(",") if n]
    if unknown := set(names) - set(CONSUMERS):
        ap.error(f"unknown consumers: {', '.join(sorted(unknown))}")
    if {"base-1", "base-2"} & set(names) and args.baseline_tree is None:
        ap.error("base-1 / base-2 need --baseline-tree DIR")
    if "node-red" in names and not NODE_RED_JS.exists():
        ap.error("Node-RED is not installed in bench/.node-red: run `make bench-peers`")

    messages, warm = workload(args.count, args.devices)
    size = sum(len(p) for _, p in messages) / len(messages)
    print(
        f"{len(messages)} TTS v3 uplinks, {args.devices} LHT65 devices, {size:,.0f} bytes "
        f"each; {os.cpu_count()} cores; consumers in this order every round: " + ", ".join(names),
        flush=True,
    )
    runs: list[Run] = []
    with contextlib.ExitStack() as stack:
        mq = stack.enter_context(running_mosquitto())
        ix = stack.enter_context(running_influxd())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lm-peers-")))
        e = Env(mq, ix, tmp, args.profile, args.py_spy)
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
        for rnd in range(1, args.rounds + 1):
            this: list[Run] = []
            for name in names:
                r = one_run(e, rnd, name, messages, warm, args.stall)
                this.append(r)
                nr = next((x for x in this if x.consumer == "node-red"), None)
                if nr is not None and nr.uplinks_per_s > 0:
                    r.ratio_to_node_red = r.uplinks_per_s / nr.uplinks_per_s
                print(_fmt(r), flush=True)
            runs += this
    print(f"\nsummary ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {len(runs)} runs):")
    for line in summary(runs):
        print(line)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    return 0 if all(r.lost == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
