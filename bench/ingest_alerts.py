"""Ingest throughput with the alert evaluator on and off (#17), interleaved in one run.

Each round starts a fresh real mosquitto and influxd, and ``lorawan-monitor run`` (ingest,
API and, when on, the alert evaluator in one process, as a single-host installation runs
it), publishes the same ``--count`` TTS uplinks over ``--devices`` devices with QoS 1
through the fast publisher, and times until every uplink is in InfluxDB and counted in
the registry. Rounds alternate off, on, off, on … so that the machine's load hits both
alike. "on" evaluates the demo's default rules plus bench/alerts.py's 20 rules (24 rules)
every ``--interval`` seconds (far more often than the default 30 s).

Variants: ``off``; ``on (thread)`` (LORAWAN_ALERTS__EVALUATOR=thread: the evaluator a
thread of the ``run`` process, as before #17's fix); ``on (process)`` (the default: ``run``
starts ``alerts run`` as a child process); with ``--baseline-tree DIR`` also ``on`` with
another checkout's code. Prints per round: uplinks/s end to end (stored and counted in the
registry), CPU per uplink of the ``run`` process and of its evaluator child, evaluation
cycles run; then the medians, spread and the on/off ratios per round (CPU: both processes).

    .venv/bin/python bench/ingest_alerts.py [--rounds 3] [--count 30000] [--devices 5000]
        [--evaluator thread process] [--baseline-tree /tmp/base]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts.rules import parse_rules  # noqa: E402
from bench.alerts import RULES as BENCH_RULES  # noqa: E402
from bench.e2e_ingest import cpu_seconds  # noqa: E402
from bench.fastpub import publish_all  # noqa: E402
from lorawan_monitor.commands.demo import DEMO_RULES  # noqa: E402
from simulator.fleet import default_fleet, generate  # noqa: E402
from tests.servers import free_port, running_influxd, running_mosquitto  # noqa: E402


def rules_text(parking_key: str) -> str:
    """The demo's default rules followed by the 20 rules of bench/alerts.py."""
    demo = DEMO_RULES.format(parking=parking_key)
    bench_rules = BENCH_RULES.split("rules:\n", 1)[1]
    return demo.rstrip() + "\n" + bench_rules


@dataclass
class Round:
    variant: str
    alerts: bool
    rate: float  # uplinks/s until stored and counted in the registry
    cpu_us: float  # CPU of the run process per uplink
    child_us: float  # CPU of its evaluator child process per uplink (EVALUATOR=process)
    cycles: int  # evaluation cycles logged by the process


def one_round(
    args: argparse.Namespace,
    messages: list[tuple[str, bytes]],
    rules: Path | None,
    tag: str,
    variant: str,
    tree: Path = ROOT,
) -> Round:
    from sqlalchemy import create_engine, text

    with contextlib.ExitStack() as stack:
        mq = stack.enter_context(running_mosquitto())
        ix = stack.enter_context(running_influxd())
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ia-"))
        ix.create_database("bench")
        registry_url = f"sqlite:///{tmp}/registry.db"
        env = dict(os.environ)
        env.update(
            {
                "LORAWAN_MQTT__HOST": "127.0.0.1",
                "LORAWAN_MQTT__PORT": str(mq.port),
                "LORAWAN_MQTT__CLIENT_ID": f"bench-{tag}",
                "LORAWAN_MQTT__QOS": "1",
                "LORAWAN_INFLUX__URL": ix.url,
                "LORAWAN_INFLUX__DATABASE": "bench",
                "LORAWAN_STORAGE__DATA_DIR": f"{tmp}/data",
                "LORAWAN_STORAGE__REGISTRY_URL": registry_url,
                "LORAWAN_API__PORT": str(free_port()),
                "LORAWAN_ALERTS__ENABLED": "true" if rules else "false",
                "LORAWAN_ALERTS__INTERVAL": str(args.interval),
                "LORAWAN_ALERTS__LEASE_TTL": str(max(90.0, 3 * args.interval)),
                "LORAWAN_ALERTS__GROUP_WAIT": "3600",
                "LORAWAN_LOG_LEVEL": "INFO",
            }
        )
        if rules is not None:
            env["LORAWAN_ALERTS__RULES_FILE"] = str(rules)
        if tree != ROOT:  # another checkout's code (python -m puts the cwd first)
            env["PYTHONPATH"] = str(tree)
            env.pop("LORAWAN_ALERTS__EVALUATOR", None)
        log_path = Path(tmp) / "run.log"
        log = stack.enter_context(open(log_path, "a"))  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "lorawan_monitor.cli", "run"],
            env=env,
            cwd=tree,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            wait_ready(proc, int(env["LORAWAN_API__PORT"]), log_path)  # MQTT subscribed
            time.sleep(args.warmup)  # the evaluator's first cycles
            engine = create_engine(registry_url)
            start = time.perf_counter()
            cpu0 = cpu_seconds(proc.pid)
            child0 = sum(cpu_seconds(c) for c in children(proc.pid))
            publish_all("127.0.0.1", mq.port, messages, client_id=f"bench-pub-{tag}")
            deadline = time.monotonic() + args.timeout
            done = False
            while time.monotonic() < deadline and not done:
                res = ix.query('SELECT count("f_cnt") FROM "lorawan_uplink"', db="bench")
                series = res["results"][0].get("series", [])
                stored = int(series[0]["values"][0][1]) if series else 0
                if stored >= len(messages):
                    with engine.connect() as conn:
                        counted = conn.execute(
                            text("SELECT COALESCE(SUM(uplink_count), 0) FROM devices")
                        ).scalar_one()
                    done = int(counted) >= len(messages)
                if not done:
                    time.sleep(0.1)
            elapsed = time.perf_counter() - start
            cpu = cpu_seconds(proc.pid) - cpu0
            child = sum(cpu_seconds(c) for c in children(proc.pid)) - child0
            engine.dispose()
            if not done:
                raise SystemExit(
                    f"round {tag}: not complete within {args.timeout} s; its log:\n"
                    + log_path.read_text()[-3000:]
                )
            cycles = evaluations(int(env["LORAWAN_API__PORT"]))
        finally:
            proc.terminate()
            proc.wait(60)
        return Round(
            variant=variant,
            alerts=rules is not None,
            rate=len(messages) / elapsed,
            cpu_us=cpu / len(messages) * 1e6,
            child_us=child / len(messages) * 1e6,
            cycles=cycles,
        )


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (the evaluator ``run`` starts)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def wait_ready(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    """Until ``run`` answers ready (its MQTT session exists: what is published now is kept
    for it), at most 120 s."""
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"run exited early:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health/ready", timeout=2).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"run not ready within 120 s:\n{log_path.read_text()[-3000:]}")


def evaluations(port: int) -> int:
    """Evaluation cycles the process ran so far (its /metrics)."""
    import httpx

    total = 0.0
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text.splitlines():
        if line.startswith("lorawan_alert_evaluations_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def spread(xs: list[float]) -> str:
    return f"median {statistics.median(xs):,.0f} (min {min(xs):,.0f}, max {max(xs):,.0f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds each of off and on (>= 3)")
    ap.add_argument("--count", type=int, default=30000)
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--interval", type=float, default=1.0, help="evaluator interval (s)")
    ap.add_argument(
        "--warmup", type=float, default=3.0, help="seconds after ready before publishing"
    )
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument(
        "--evaluator",
        nargs="+",
        choices=["process", "thread"],
        default=["thread", "process"],
        help="LORAWAN_ALERTS__EVALUATOR variants to run with alerts on",
    )
    ap.add_argument(
        "--baseline-tree",
        type=Path,
        help="also run alerts on with another checkout's code (e.g. `git archive` of an "
        "older commit unpacked there), for before/after in one run",
    )
    args = ap.parse_args()

    fleet = default_fleet(args.devices, networks=("tts",))
    begin = datetime.now(UTC) - timedelta(hours=12)  # plausible times, some devices silent
    messages = [(m.topic, m.payload) for m in generate(fleet, start=begin, count=args.count)]
    tmp = Path(tempfile.mkdtemp(prefix="bench-ia-rules-"))
    parking = next((d.dev_eui for d in fleet if "parking" in d.behaviour), fleet[0].dev_eui)
    rules_path = tmp / "rules.yaml"
    rules_path.write_text(rules_text(parking), encoding="utf-8")
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {len(messages)} uplinks over {args.devices} "
        f"devices, {args.rounds} rounds of each variant in turn, evaluator every "
        f"{args.interval:g} s, {len(parse_rules(rules_text(parking), 'bench').rules)} rules",
        flush=True,
    )
    variants: list[tuple[str, Path | None, Path, dict[str, str]]] = [("off", None, ROOT, {})]
    if args.baseline_tree is not None:
        variants.append(("on (baseline tree)", rules_path, args.baseline_tree, {}))
    for mode in args.evaluator:
        variants.append((f"on ({mode})", rules_path, ROOT, {"LORAWAN_ALERTS__EVALUATOR": mode}))
    results: list[Round] = []
    for r in range(args.rounds):
        for name, rules, tree, extra in variants:
            saved = {k: os.environ.get(k) for k in extra}
            os.environ.update(extra)
            try:
                res = one_round(args, messages, rules, f"{r}{len(results)}", name, tree)
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            results.append(res)
            print(
                f"round {r + 1} {name}: {res.rate:,.0f} uplinks/s, "
                f"run process {res.cpu_us:.0f} us CPU per uplink"
                + (
                    f", its evaluator child process {res.child_us:.0f} us CPU per uplink"
                    if "process" in name
                    else f", {res.cycles} evaluation cycles in it"
                    if res.alerts
                    else ""
                ),
                flush=True,
            )
    off = [x for x in results if x.variant == "off"]
    print(
        f"{'off':>20}: {spread([x.rate for x in off])} uplinks/s; CPU {spread([x.cpu_us for x in off])} us"
    )
    for name, *_ in variants[1:]:
        on_ = [x for x in results if x.variant == name]
        ratios = [b.rate / a.rate for a, b in zip(off, on_, strict=True)]
        cpu_ratios = [(b.cpu_us + b.child_us) / a.cpu_us for a, b in zip(off, on_, strict=True)]
        print(
            f"{name:>20}: {spread([x.rate for x in on_])} uplinks/s; "
            f"CPU {spread([x.cpu_us for x in on_])} us"
        )
        print(
            f"{'':>20}  on/off per round: throughput {', '.join(f'{x:.2f}' for x in ratios)} "
            f"(median {statistics.median(ratios):.2f}); CPU per uplink (run + evaluator child) "
            f"{', '.join(f'{x:.2f}' for x in cpu_ratios)} (median {statistics.median(cpu_ratios):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
