"""The evaluator thread: one cycle every ``interval``, delivery when something is due.

Every process that runs it (``run``, ``demo``, ``api``, ``alerts run``) competes for the
lease in the registry database; the holder evaluates and delivers, the others only keep
their ``lorawan_alerts_firing`` gauge current from the stored state and try again each
cycle (so one takes over within ``lease_ttl`` when the holder dies).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.evaluator import Evaluator
from alerts.metrics import ALERTS_FIRING, EVALUATIONS
from alerts.notify import Channel, Deliverer
from alerts.rules import RuleSet
from alerts.state import AlertDb
from lorawan_monitor.errors import LoraMonitorError
from storage.base import TimeSeriesStore
from storage.registry_base import Registry

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class AlertConfig:
    interval: float = 30.0
    group_wait: float = 30.0
    retry_min: float = 5.0
    retry_max: float = 900.0
    lease_ttl: float = 90.0
    timezone: str = "Europe/Berlin"
    language: str = "de"


@dataclass(frozen=True, kw_only=True)
class CycleResult:
    leader: bool
    changes: int = 0
    notifications: int = 0
    sent: int = 0
    firing: int = 0


class AlertService:
    def __init__(
        self,
        rules: RuleSet,
        *,
        db: AlertDb,
        registry: Registry,
        store: TimeSeriesStore | None,
        channels: Mapping[str, Channel],
        config: AlertConfig = AlertConfig(),
        clock: Callable[[], datetime] = _now,
        holder: str | None = None,
        act: bool = True,
    ) -> None:
        self.rules, self.db, self.store, self.config, self.clock = rules, db, store, config, clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        #: False: never take the lease, only keep the gauge current (``run`` beside its
        #: evaluator process, LORAWAN_ALERTS__EVALUATOR=process)
        self.act = act
        self.evaluator = Evaluator(
            rules,
            registry=registry,
            store=store,
            engine=db.engine,
            timezone=config.timezone,
            language=config.language,
        )
        self.deliverer = Deliverer(
            db,
            channels,
            group_wait=config.group_wait,
            retry_min=config.retry_min,
            retry_max=config.retry_max,
            claim_s=max(60.0, 2 * config.lease_ttl),
            language=config.language,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leader = False
        #: evaluation cycles run by the thread (benchmarks wait for the first)
        self.cycles = 0

    # -- one cycle ---------------------------------------------------------------------

    def cycle(self, now: datetime | None = None) -> CycleResult:
        """Evaluate once (if this process holds the lease) and deliver what is due."""
        now = now or self.clock()
        leader = self.act and self.db.acquire(self.holder, now, self.config.lease_ttl)
        if leader != self._leader:
            log.info("alert evaluator %s: %s", self.holder, "acting" if leader else "standing by")
            self._leader = leader
        if not leader:  # a standby reads counts only (not every alert row)
            counts = self.db.firing_counts()
            self._set_gauge(counts)
            return CycleResult(leader=False, firing=sum(counts.values()))
        active = {r["id"]: r for r in self.db.active()}
        observed = self.evaluator.observe(now, active)
        changes, points = self.evaluator.transitions(observed, active, now)
        if not self.db.apply(changes, holder=self.holder, now=now):
            log.warning("alert evaluator %s lost the lease; nothing written", self.holder)
            return CycleResult(leader=False)
        self._write_points(points)
        after = self.db.active() if changes else list(active.values())
        self._gauge(after)
        sent = self.deliverer.deliver(now, self.holder)
        return CycleResult(
            leader=True,
            changes=len(changes.history),
            notifications=len(changes.outbox),
            sent=sent,
            firing=_firing(after),
        )

    def deliver(self, now: datetime | None = None) -> int:
        """Send what is due (renewing the lease; nothing unless this process holds it)."""
        now = now or self.clock()
        self._leader = self.act and self.db.acquire(self.holder, now, self.config.lease_ttl)
        return self.deliverer.deliver(now, self.holder) if self._leader else 0

    def _write_points(self, points: list[Any]) -> None:
        if not points or self.store is None:
            return
        try:
            self.store.write(points)
        except LoraMonitorError as exc:  # the registry has the history; dashboards miss it
            log.warning("alert transitions not written to the time-series store: %s", exc)

    def _gauge(self, rows: Any) -> None:
        counts: dict[tuple[str, str], int] = {}
        for r in rows:
            if r["state"] == "firing":
                key = (r["rule"], r["severity"])
                counts[key] = counts.get(key, 0) + 1
        self._set_gauge(counts)

    def _set_gauge(self, firing: Mapping[tuple[str, str], int]) -> None:
        counts: dict[tuple[str, str], int] = {
            (rule.name, self.rules.severity(rule)): 0 for rule in self.rules.rules
        }
        counts |= firing
        ALERTS_FIRING.clear()
        for (name, sev), n in counts.items():
            ALERTS_FIRING.labels(rule=name, severity=sev).set(n)

    # -- the thread --------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alert-evaluator", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_eval = self.clock()
        while not self._stop.is_set():
            now = self.clock()
            try:
                if now >= next_eval:
                    self.cycle(now)
                    self.cycles += 1
                    EVALUATIONS.labels(result="ok").inc()
                    next_eval = now + timedelta(seconds=self.config.interval)
                elif self._leader:
                    self.deliver(now)
                due = self.db.next_due() if self._leader else None
            except Exception as exc:  # the database is away: try again next cycle
                EVALUATIONS.labels(result="error").inc()
                log.warning("alert evaluation failed: %s", exc)
                next_eval = now + timedelta(seconds=self.config.interval)
                due = None
            wake = min(next_eval, due) if due else next_eval
            self._stop.wait(max(0.05, (wake - self.clock()).total_seconds()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        try:
            if self._leader:
                self.db.release(self.holder)
        except LoraMonitorError as exc:
            log.debug("lease not released: %s", exc)


def _firing(rows: Any) -> int:
    return sum(1 for r in rows if r["state"] == "firing")
