"""End-to-end ingest benchmark (issue #2).

Starts a real mosquitto and influxd on free loopback ports, starts
``lorawan-monitor ingest`` as a separate process (full pipeline: envelope validation,
decoding, registry status, durable buffer, batched InfluxDB writes), publishes N
simulated TTS uplinks with QoS 1 as fast as the broker takes them, and times until every
uplink's points are queryable in InfluxDB.

Prints: uplinks/s, points/s, lost uplinks, peak RSS of the ingest process.

    .venv/bin/python bench/e2e_ingest.py --count 60000 [--network tts|chirpstack|mixed] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.fleet import default_fleet, generate  # noqa: E402
from simulator.publisher import Publisher  # noqa: E402
from tests.servers import running_influxd, running_mosquitto, running_postgres  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=60000)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--network", choices=["tts", "chirpstack", "mixed"], default="tts")
    ap.add_argument(
        "--workers", type=int, default=1, help="ingest workers on one shared subscription"
    )
    ap.add_argument(
        "--no-registry", action="store_true", help="skip device status (for comparison)"
    )
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument(
        "--fast-publisher",
        action="store_true",
        help="publish with bench/fastpub.py (pre-encoded packets) instead of paho",
    )
    ap.add_argument(
        "--registry-db",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="where the workers' shared device registry lives (postgres: a throwaway cluster)",
    )
    ap.add_argument(
        "--mode",
        choices=["live", "backlog"],
        default="live",
        help="live: publish while ingest runs (with --fast-publisher the publisher costs little); "
        "backlog: publish into the broker while ingest is stopped (its session is kept), "
        "then time how fast ingest drains it into InfluxDB",
    )
    args = ap.parse_args()

    networks = ("tts", "chirpstack") if args.network == "mixed" else (args.network,)
    fleet = default_fleet(args.devices, networks=networks)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    messages = list(generate(fleet, start=datetime(2026, 6, 1, tzinfo=UTC), count=args.count))
    expected_points = sum(len(m.expected) for m in messages) + len(messages)
    print(
        f"generated {len(messages)} messages ({expected_points} points expected) "
        f"in {time.perf_counter() - t0:.1f}s",
        flush=True,
    )

    with contextlib.ExitStack() as stack:
        mq = stack.enter_context(running_mosquitto())
        ix = stack.enter_context(running_influxd())
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        ix.create_database("bench")
        registry_url = f"sqlite:///{tmp}/registry.db"
        if args.registry_db == "postgres":
            registry_url = stack.enter_context(running_postgres()).create_database("bench")

        def cpu_snapshot() -> dict[str, float]:
            """CPU seconds so far of each process on this machine's two cores."""
            snap = {f"ingest{w}": cpu_seconds(p.pid) for w, p in enumerate(procs)}
            snap["mosquitto"] = cpu_seconds(mq.proc.pid) if mq.proc else 0.0
            snap["influxd"] = cpu_seconds(ix.proc.pid) if ix.proc else 0.0
            snap["bench (publisher, polling)"] = time.process_time()
            return snap

        def start_workers() -> list[subprocess.Popen[bytes]]:
            return [start_worker(w) for w in range(args.workers)]

        def start_worker(w: int) -> subprocess.Popen[bytes]:
            env = dict(os.environ)
            env.update(
                {
                    "LORAWAN_MQTT__HOST": "127.0.0.1",
                    "LORAWAN_MQTT__PORT": str(mq.port),
                    "LORAWAN_MQTT__CLIENT_ID": f"bench-ingest-{w}",
                    "LORAWAN_MQTT__QOS": "1",
                    "LORAWAN_INFLUX__URL": ix.url,
                    "LORAWAN_INFLUX__DATABASE": "bench",
                    "LORAWAN_STORAGE__DATA_DIR": f"{tmp}/worker{w}",
                    "LORAWAN_STORAGE__REGISTRY_URL": registry_url,  # shared, as `ingest --workers N`
                    "LORAWAN_INGEST__METRICS_PORT": "0",
                }
            )
            if args.workers > 1:
                env["LORAWAN_MQTT__SHARE_GROUP"] = "bench"
            cmd = [sys.executable, "-m", "lorawan_monitor.cli", "ingest"]
            if args.no_registry:
                cmd.append("--no-registry")
            log = open(f"{tmp}/ingest{w}.log", "a")  # noqa: SIM115
            return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)

        procs = start_workers()
        time.sleep(4.0)  # start, connect, subscribe (the session now exists on the broker)
        pub = Publisher("127.0.0.1", mq.port, client_id="bench-publisher", max_inflight=2000)
        if args.mode == "backlog":
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
            t_pub = time.perf_counter()
            pub.publish(messages)
            print(
                f"queued {len(messages)} QoS-1 messages in the broker in "
                f"{time.perf_counter() - t_pub:.1f}s",
                flush=True,
            )
            start = time.perf_counter()
            procs = start_workers()
            cpu0 = cpu_snapshot()
        else:
            start = time.perf_counter()
            cpu0 = cpu_snapshot()
            if args.fast_publisher:
                from bench.fastpub import publish_all

                publish_all(
                    "127.0.0.1",
                    mq.port,
                    [(m.topic, m.payload) for m in messages],
                    client_id="bench-fastpub",
                )
            else:
                pub.publish(messages)
            published = time.perf_counter() - start
            print(
                f"published {len(messages)} QoS-1 messages in {published:.1f}s "
                f"({len(messages) / published:,.0f}/s)",
                flush=True,
            )
        first_seen: float | None = None
        stored = 0
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            dead = [p for p in procs if p.poll() is not None]
            if dead:
                for w in range(args.workers):
                    print(Path(f"{tmp}/ingest{w}.log").read_text()[-2000:])
                for p in procs:
                    p.kill()
                raise SystemExit("an ingest worker exited early")
            res = ix.query('SELECT count("f_cnt") FROM "lorawan_uplink"', db="bench")
            series = res["results"][0].get("series", [])
            stored = int(series[0]["values"][0][1]) if series else 0
            if stored and first_seen is None:
                first_seen = time.perf_counter()
            if stored >= len(messages):
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
        # the registry catches up on its own (#20: its updates are buffered with the points
        # and applied by their own thread): timed until every uplink is counted there
        registry_elapsed = None
        if not args.no_registry:
            from sqlalchemy import create_engine, text

            engine = create_engine(registry_url)
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    counted = conn.execute(
                        text("SELECT COALESCE(SUM(uplink_count), 0) FROM devices")
                    ).scalar_one()
                if int(counted) >= len(messages):
                    registry_elapsed = time.perf_counter() - start
                    break
                time.sleep(0.1)
            engine.dispose()
        cpu1 = cpu_snapshot()
        rss = [peak_rss_mb(p.pid) for p in procs]
        pub.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        lost = len(messages) - stored
        print(
            f"mode={args.mode} network={args.network} workers={args.workers} "
            f"registry={'off' if args.no_registry else args.registry_db}"
        )
        print(f"uplinks: {len(messages)}  stored: {stored}  lost: {lost}")
        print(
            f"end-to-end: {elapsed:.2f}s  {stored / elapsed:,.0f} uplinks/s  "
            f"{expected_points * stored / len(messages) / elapsed:,.0f} points/s"
        )
        if registry_elapsed is not None:
            print(
                f"registry complete (every uplink counted): {registry_elapsed:.2f}s  "
                f"{len(messages) / registry_elapsed:,.0f} uplinks/s"
            )
        if args.mode == "backlog" and first_seen is not None:
            drain = (
                time.perf_counter() - first_seen
                if stored < len(messages)
                else elapsed - (first_seen - start)
            )
            print(
                f"drain (first point to last, excluding process start-up): {drain:.2f}s  "
                f"{stored / drain:,.0f} uplinks/s"
            )
        print("peak RSS per ingest worker: " + ", ".join(f"{r:.0f} MB" for r in rss))
        used = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
        ingest_cpu = sum(v for k, v in used.items() if k.startswith("ingest"))
        print(
            f"CPU seconds in the {elapsed:.1f} s window (2 cores = {2 * elapsed:.1f} s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in used.items())
        )
        print(
            "CPU per uplink: "
            + ", ".join(f"{k} {v / max(stored, 1) * 1e6:.0f} us" for k, v in used.items())
            + f"; ingest in all {ingest_cpu / max(stored, 1) * 1e6:.0f} us"
        )
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
