"""``lorawan-monitor alerts``: check a rules file, send a test message, run the evaluator.

* ``alerts check FILE``          validate a rules file (exit 2 naming the rule and problem)
* ``alerts test --channel NAME`` send a test message on a configured channel
* ``alerts run``                 the evaluator alone (``run``, ``api`` and ``demo`` run it
  as a thread already; the lease in the registry database keeps it to one acting)
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from lorawan_monitor.errors import ConfigError
from lorawan_monitor.settings import load_settings

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "alerts", help="alert rules: check a file, test a channel, run the evaluator"
    )
    asub = p.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    c = asub.add_parser("check", help="validate a rules file")
    c.add_argument("file", type=Path)
    c.set_defaults(func=check)
    t = asub.add_parser("test", help="send a test message on a channel")
    t.add_argument("--channel", required=True, help="a name of LORAWAN_ALERTS__CHANNELS__<NAME>")
    t.set_defaults(func=test)
    r = asub.add_parser("run", help="run the alert evaluator (until Ctrl-C)")
    r.add_argument("--rules", type=Path, help="rules file (default: LORAWAN_ALERTS__RULES_FILE)")
    r.set_defaults(func=run)


def check(args: argparse.Namespace) -> int:
    from alerts.rules import load_rules

    settings = load_settings()
    rules = load_rules(args.file)
    rules.check_channels(list(settings.alerts.channels))
    kinds: dict[str, int] = {}
    for rule in rules.rules:
        kinds[rule.kind] = kinds.get(rule.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no rules"
    sys.stdout.write(f"{args.file}: {len(rules.rules)} rules OK ({summary})\n")
    return 0


def test(args: argparse.Namespace) -> int:
    from alerts.notify import DeliveryError, build_channels

    settings = load_settings()
    name = args.channel.lower()
    channels = build_channels(settings.alerts.channels)
    channel = channels.get(name)
    if channel is None:
        raise ConfigError(
            f"no channel {name!r}: set LORAWAN_ALERTS__CHANNELS__{name.upper()} "
            f"(configured: {', '.join(sorted(channels))})"
        )
    now = datetime.now(UTC).strftime("%d.%m.%Y %H:%M UTC")
    try:
        channel.send(
            "[TEST] lorawan-monitor Alarmierung",
            f"Testnachricht vom {now}: der Kanal {name!r} funktioniert.\n"
            f"Test message sent {now}: channel {name!r} works.",
        )
    except DeliveryError as exc:
        sys.stderr.write(f"lorawan-monitor: test message not delivered: {exc}\n")
        return 1
    sys.stdout.write(f"test message sent on channel {name!r}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    from lorawan_monitor.wiring import build_alerts, build_registry, build_store

    settings = load_settings()
    rules_file = args.rules or settings.alerts.rules_file
    if rules_file is None:
        raise ConfigError("no rules file: give --rules FILE or set LORAWAN_ALERTS__RULES_FILE")
    registry = build_registry(settings)
    store = build_store(settings)
    service = build_alerts(settings, registry, store, rules_file=rules_file)
    assert service is not None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    service.start()
    log.info("alert evaluator %s running (%d rules)", service.holder, len(service.rules.rules))
    try:
        stop.wait()
    finally:
        service.stop()
        registry.close()
        store.close()
    return 0
