"""The process that watches ``ingest --workers N``: starts the workers, stops them together.

Deliberately imports nothing of the application (no settings, pydantic, SQLAlchemy,
paho): ``ingest --workers`` checks the settings and migrates the registry, then replaces
itself with this module (``os.execv``), so the supervisor that stays resident for months
holds about 10 MB instead of the ~70 MB the full import left behind (measured with
bench/peers.py, #19). Its command line is one JSON document from
:func:`lorawan_monitor.commands.ingest._supervise`::

    {"group": "...", "cmd": [...],
     "workers": [{"set": {"LORAWAN_...": "..."}, "unset": ["LORAWAN_..."]}, ...]}
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from typing import Any

log = logging.getLogger("lorawan_monitor.commands.ingest")


def supervise(spec: dict[str, Any]) -> int:
    """Run one worker per entry of ``spec["workers"]`` (environment to set and to unset),
    each as ``spec["cmd"]``; when one exits, stop the others. 0 only after a clean stop."""
    cmd = [str(c) for c in spec["cmd"]]
    procs = []
    for worker in spec["workers"]:
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in worker.get("set", {}).items()})
        for name in worker.get("unset", []):
            env.pop(str(name), None)
        procs.append(subprocess.Popen(cmd, env=env))
    log.info("started %d ingest workers on $share/%s/...", len(procs), spec["group"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        if any(p.poll() is not None for p in procs):
            log.error(
                "an ingest worker exited (code %s); stopping the others",
                [p.returncode for p in procs],
            )
            break
    for p in procs:
        if p.poll() is None:
            p.terminate()
    codes = [p.wait(60) for p in procs]
    # a worker still starting when the stop came has no handler yet: SIGTERM ended it, cleanly
    clean = (0, -signal.SIGTERM)
    return 0 if stop.is_set() and all(c in clean for c in codes) else 1


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return supervise(json.loads(argv[1]))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv))
