"""Conditions and transitions: what each rule sees now, and what that changes.

One cycle (:meth:`Evaluator.evaluate`) reads the registry once (every device's status),
the time-series store only for aggregate threshold rules (one aggregate per device,
computed in the store), and the journal only for decode-share and gateway rules; it then
compares what it saw with the stored alert state and produces :class:`~alerts.state.Changes`:

* ok → pending: the condition became true (``for`` not yet elapsed);
* pending → firing: true for ``for``; one notification per channel;
* pending → ok: false again before ``for`` elapsed; no notification;
* firing → firing: a reminder every ``repeat`` (not when acknowledged);
* firing → resolved: false (for a threshold: past the ``clear`` value); one notification.

Notifications are outbox rows written in the same transaction as the transition; a
silenced alert gets none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, func, select

from alerts.rules import Rule, RuleSet
from alerts.state import Changes
from decoders.quantities import info as quantity_info
from storage.base import Point, TimeSeriesStore
from storage.migrations import FastJson, journal
from storage.registry_base import DeviceStatus, Registry

log = logging.getLogger(__name__)

EVENT_WORDS = {
    "de": {"firing": "AUSGELÖST", "resolved": "BEHOBEN", "reminder": "ERINNERUNG"},
    "en": {"firing": "FIRING", "resolved": "RESOLVED", "reminder": "REMINDER"},
}
SEVERITY_WORDS = {
    "de": {"info": "Info", "warning": "Warnung", "critical": "Kritisch"},
    "en": {"info": "Info", "warning": "Warning", "critical": "Critical"},
}


@dataclass
class Observation:
    """One rule's view of one subject (a device or a gateway) in this cycle."""

    alert_id: str
    active: bool
    value: float | None
    unit: str | None
    device: DeviceStatus | None = None
    gateway: str | None = None
    ctx: dict[str, str] = field(default_factory=dict)
    #: when the condition became true, where the data says so (silence: last uplink + limit)
    since: datetime | None = None


def fmt_number(value: float | None, lang: str = "de") -> str:
    if value is None:
        return "–"
    text = f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.0f}"
    return text.replace(".", ",") if lang == "de" else text


def with_unit(value: float | None, unit: str | None, lang: str = "de") -> str:
    num = fmt_number(value, lang)
    return f"{num} {unit}" if unit and value is not None else num


class _Safe(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "–"


def render(template: str, ctx: Mapping[str, str]) -> str:
    return template.format_map(_Safe(ctx))


def matches(rule: Rule, dev: DeviceStatus) -> bool:
    sel = rule.select
    if sel.devices and dev.device_key not in sel.devices:
        return False
    if sel.model is not None and dev.model_id != sel.model:
        return False
    if sel.category is not None and dev.meta.category != sel.category:
        return False
    if sel.site is not None and dev.meta.site != sel.site:
        return False
    if sel.tags:
        tags = dev.meta.tags or {}
        if any(tags.get(k) != v for k, v in sel.tags.items()):
            return False
    return True


def device_name(dev: DeviceStatus) -> str:
    return dev.meta.name or dev.device_name or dev.device_id or dev.device_key


class Evaluator:
    """Evaluates a :class:`RuleSet` against the registry and the store."""

    def __init__(
        self,
        rules: RuleSet,
        *,
        registry: Registry,
        store: TimeSeriesStore | None,
        engine: Any = None,
        timezone: str = "Europe/Berlin",
        language: str = "de",
    ) -> None:
        self.rules = rules
        self.registry = registry
        self.store = store
        self.engine = engine  # the registry engine: journal queries (decode share, gateways)
        self.lang = language if language in EVENT_WORDS else "de"
        try:
            self.tz: Any = ZoneInfo(timezone)
        except Exception:  # no tz database: UTC (named in the text)
            self.tz = UTC
        self._gw_seen: dict[str, datetime] = {}
        self._active: Mapping[str, Mapping[str, Any]] = {}
        self._gw_scanned: datetime | None = None
        self._gw_last_id = 0

    # -- time --------------------------------------------------------------------------

    def when(self, t: datetime | None) -> str:
        if t is None:
            return "nie" if self.lang == "de" else "never"
        local = t.astimezone(self.tz)
        if self.lang == "de":
            return local.strftime("%d.%m.%Y %H:%M ") + (local.tzname() or "")
        return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or "")

    # -- observations ------------------------------------------------------------------

    def devices(self) -> list[DeviceStatus]:
        out: list[DeviceStatus] = []
        offset = 0
        while True:
            page, total = self.registry.list_devices(offset=offset, limit=10_000)
            out += page
            offset += len(page)
            if not page or offset >= total:
                return out

    def observe(
        self, now: datetime, active: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, list[Observation]]:
        """Per rule name, what it sees now (hysteresis needs the ``active`` state)."""
        devs = self.devices()
        self._active = active
        out: dict[str, list[Observation]] = {}
        for rule in self.rules.rules:
            try:
                out[rule.name] = list(self._observe(rule, now, devs, active))
            except Exception as exc:  # one broken source must not stop the other rules
                log.warning("alert rule %s: cannot evaluate: %s", rule.name, exc)
                out[rule.name] = [
                    Observation(alert_id=k, active=True, value=v.get("value"), unit=v.get("unit"))
                    for k, v in active.items()
                    if v["rule"] == rule.name
                ]  # keep what is active as it is
        return out

    def _observe(
        self,
        rule: Rule,
        now: datetime,
        devs: Sequence[DeviceStatus],
        active: Mapping[str, Mapping[str, Any]],
    ) -> Iterable[Observation]:
        if rule.kind == "gateway":
            yield from self._gateways(rule, now)
            return
        chosen = [d for d in devs if matches(rule, d)]
        found: Iterable[Observation | None]
        if rule.kind == "silent":
            found = (self._silent(rule, d, now) for d in chosen)
        elif rule.kind == "battery":
            found = (self._battery(rule, d) for d in chosen)
        elif rule.kind == "decode":
            found = self._decode(rule, chosen, now)
        else:
            found = self._threshold(rule, chosen, now, active)
        # an inactive subject without an alert changes nothing: not passed on (#17: cost)
        yield from (o for o in found if o is not None and (o.active or o.alert_id in active))

    def _obs(
        self,
        rule: Rule,
        dev: DeviceStatus,
        active: bool,
        value: float | None,
        unit: str | None,
        **ctx: str,
    ) -> Observation:
        return Observation(
            alert_id=f"{rule.name}:{dev.device_key}",
            active=active,
            value=value,
            unit=unit,
            device=dev,
            ctx=ctx,
        )

    def _known(self, rule: Rule, dev: DeviceStatus) -> bool:
        """An alert of ``rule`` for ``dev`` is active (an inactive unknown one is skipped)."""
        return f"{rule.name}:{dev.device_key}" in self._active

    def _silent(self, rule: Rule, dev: DeviceStatus, now: datetime) -> Observation | None:
        if dev.last_seen is None:
            return None  # registered, never heard: not "silent" (the installer page shows it)
        if rule.after is not None:
            limit = rule.after
        elif dev.meta.expected_interval_s:
            limit = (rule.missed or 1) * dev.meta.expected_interval_s
        else:
            return None
        silent_s = (now - dev.last_seen).total_seconds()
        if silent_s <= limit and not self._known(rule, dev):
            return None
        minutes = round(silent_s / 60, 1)
        return self._obs(
            rule,
            dev,
            silent_s > limit,
            minutes,
            "min",
            threshold=with_unit(limit / 60, "min", self.lang),
        )

    def _battery(self, rule: Rule, dev: DeviceStatus) -> Observation | None:
        if rule.percent is not None and dev.last_battery is not None:
            v, limit, unit = dev.last_battery, rule.percent, "%"
        elif rule.volts is not None and dev.last_battery_voltage is not None:
            v, limit, unit = dev.last_battery_voltage, rule.volts, "V"
        else:
            return None
        known = self._known(rule, dev)
        if v >= limit and not known:
            return None
        clear = rule.battery_clear(unit)
        # hysteresis: an alert already active stays until the battery is back at ``clear``
        on = v < (clear if known and clear is not None else limit)
        return self._obs(rule, dev, on, v, unit, threshold=with_unit(limit, unit, self.lang))

    def _decode(
        self, rule: Rule, devs: Sequence[DeviceStatus], now: datetime
    ) -> Iterable[Observation]:
        if rule.last is not None:
            failing_now = [d.device_key for d in devs if d.last_status == "error"]
            lasts = self._last_statuses(failing_now, rule.last) if rule.last > 1 else {}
            for d in devs:
                if d.last_seen is None:
                    continue
                failing = d.last_status == "error"
                if failing and rule.last > 1:
                    recent = lasts.get(d.device_key, [])
                    failing = len(recent) >= rule.last and all(st == "error" for st in recent)
                yield self._obs(
                    rule, d, failing, None, None, error=d.last_error or "", threshold=str(rule.last)
                )
            return
        assert rule.share is not None and rule.window is not None
        shares = self._error_shares(now - timedelta(seconds=rule.window))
        for d in devs:
            total, errors = shares.get(d.device_key, (0, 0))
            if not total:
                continue
            share = 100.0 * errors / total
            yield self._obs(
                rule,
                d,
                share > 100 * rule.share,
                round(share, 1),
                "%",
                error=d.last_error or "",
                threshold=with_unit(100 * rule.share, "%", self.lang),
            )

    def _last_statuses(self, keys: Sequence[str], k: int) -> dict[str, list[str]]:
        """The decode status of the last ``k`` journaled uplinks of each device in ``keys``."""
        out: dict[str, list[str]] = {}
        if not keys:
            return out
        if self.engine is None:
            for key in keys:
                out[key] = [e.status for e in self.registry.journal(key, limit=k)]
            return out
        j = journal.c
        for i in range(0, len(keys), 500):
            n = (
                func.row_number()
                .over(partition_by=j.device_key, order_by=(j.received_at.desc(), j.id.desc()))
                .label("n")
            )
            inner = select(j.device_key, j.status, n).where(j.device_key.in_(keys[i : i + 500]))
            sub = inner.subquery()
            q = select(sub.c.device_key, sub.c.status).where(sub.c.n <= k)
            with self.engine.connect() as conn:
                for key, status in conn.execute(q):
                    out.setdefault(key, []).append(status)
        return out

    def _error_shares(self, since: datetime) -> dict[str, tuple[int, int]]:
        if self.engine is None:
            return {}
        j = journal.c
        q = (
            select(j.device_key, func.count(), func.sum((j.status == "error").cast(Integer)))
            .where(j.received_at >= since)
            .group_by(j.device_key)
        )
        with self.engine.connect() as conn:
            return {k: (int(n), int(e or 0)) for k, n, e in conn.execute(q)}

    def _threshold(
        self,
        rule: Rule,
        devs: Sequence[DeviceStatus],
        now: datetime,
        active: Mapping[str, Mapping[str, Any]],
    ) -> Iterable[Observation]:
        assert rule.quantity is not None
        values = self._values(rule, devs, now)
        trigger = rule.trigger()
        assert trigger is not None
        clear = rule.clear if rule.clear is not None else trigger
        unit = quantity_info(rule.quantity).unit or None
        shown = with_unit(trigger, unit, self.lang)
        for d in devs:
            v = values.get(d.device_key)
            if v is None:
                continue
            was = f"{rule.name}:{d.device_key}" in active
            if rule.above is not None:
                on = v >= clear if was else v > trigger
            else:
                on = v <= clear if was else v < trigger
            if not on and not was:
                continue
            yield self._obs(rule, d, on, v, unit, threshold=shown)

    def _values(self, rule: Rule, devs: Sequence[DeviceStatus], now: datetime) -> dict[str, float]:
        """The rule's value per device: the latest reading, or an aggregate over ``window``."""
        q = rule.quantity
        if rule.aggregate == "latest":
            out: dict[str, float] = {}
            for d in devs:
                for quantity, sensor, value in d.last_readings:
                    if quantity == q and (rule.sensor is None or sensor == rule.sensor):
                        out[d.device_key] = value
                        break
            return out
        if self.store is None or rule.window is None or q is None:
            return {}
        by_tag = {d.device_id: d.device_key for d in devs}
        # the store computes the aggregate per device (SQL / InfluxQL) over the points of
        # every series of the device (of ``sensor`` when the rule names one): the window's
        # raw points never come here (#17)
        groups = self.store.aggregate(
            q,
            start=now - timedelta(seconds=rule.window),
            end=now + timedelta(seconds=1),
            aggregate=rule.aggregate,
            where={"sensor": rule.sensor} if rule.sensor is not None else None,
            group_by=("device",),
        )
        out = {}
        for (device,), v in groups.items():
            key = by_tag.get(device)
            if key is not None:
                out[key] = round(v, 3)
        return out

    def _gateways(self, rule: Rule, now: datetime) -> Iterable[Observation]:
        assert rule.after is not None
        self._scan_gateways(now)
        names = rule.gateways or sorted(self._gw_seen)
        for gw in names:
            last = self._gw_seen.get(gw)
            silent_s = (now - last).total_seconds() if last else None
            if silent_s is None:
                continue  # never seen through this gateway (since the journal began)
            yield Observation(
                alert_id=f"{rule.name}:gw:{gw}",
                active=silent_s > rule.after,
                value=round(silent_s / 60, 1),
                unit="min",
                gateway=gw,
                since=last + timedelta(seconds=rule.after) if last else None,
                ctx={
                    "gateway": gw,
                    "last_seen": self.when(last),
                    "threshold": with_unit(rule.after / 60, "min", self.lang),
                },
            )

    def _scan_gateways(self, now: datetime) -> None:
        """Newest uplink per gateway, from the journal rows added since the last scan (by
        row id: a late delivery is a new row too; the first scan reads the whole journal)."""
        if self.engine is None or self._gw_scanned == now:
            return
        j = journal.c
        q = select(j.id, j.received_at, j.gateways).where(j.id > self._gw_last_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        loads = FastJson().process_result_value
        for row_id, t, gws in rows:
            self._gw_last_id = max(self._gw_last_id, int(row_id))
            if t is None or not gws:
                continue
            t = t.replace(tzinfo=UTC) if t.tzinfo is None else t
            items = gws if isinstance(gws, list) else loads(gws, self.engine.dialect)
            for g in items or ():
                gid = g.get("gateway_id") if isinstance(g, dict) else None
                if gid and (gid not in self._gw_seen or self._gw_seen[gid] < t):
                    self._gw_seen[gid] = t
        self._gw_scanned = now

    # -- transitions -------------------------------------------------------------------

    def context(self, rule: Rule, obs: Observation, since: datetime) -> dict[str, str]:
        dev = obs.device
        ctx = {
            "rule": rule.name,
            "severity": SEVERITY_WORDS[self.lang][self.rules.severity(rule)],
            "value": fmt_number(obs.value, self.lang),
            "unit": obs.unit or "",
            "value_unit": with_unit(obs.value, obs.unit, self.lang),
            "since": self.when(since),
            "quantity": _quantity_label(rule.quantity, self.lang) if rule.quantity else "",
        }
        if dev is not None:
            ctx |= {
                "device_key": dev.device_key,
                "device_name": device_name(dev),
                "site": dev.meta.site or "–",
                "category": dev.meta.category or "–",
                "model": dev.model_id or "–",
                "last_seen": self.when(dev.last_seen),
                "error": dev.last_error or "–",
            }
        ctx |= obs.ctx
        return ctx

    def transitions(
        self,
        observed: Mapping[str, Sequence[Observation]],
        active: Mapping[str, Mapping[str, Any]],
        now: datetime,
    ) -> tuple[Changes, list[Point]]:
        changes = Changes()
        points: list[Point] = []
        seen: set[str] = set()
        for rule in self.rules.rules:
            for obs in observed.get(rule.name, ()):
                seen.add(obs.alert_id)
                self._step(rule, obs, active.get(obs.alert_id), now, changes, points)
        for alert_id, row in active.items():  # rule gone, device gone or deselected
            if alert_id not in seen:
                gone = self.rules.by_name.get(row["rule"])
                self._end(gone, row, now, changes, points, notify=gone is not None)
        return changes, points

    def _step(
        self,
        rule: Rule,
        obs: Observation,
        row: Mapping[str, Any] | None,
        now: datetime,
        changes: Changes,
        points: list[Point],
    ) -> None:
        if row is None:
            if not obs.active:
                return
            new = self._new_row(rule, obs, now)
            changes.insert_state.append(new)
            if (now - new["active_since"]).total_seconds() < rule.for_:
                self._record(changes, points, new, "pending", now)
                return
            new |= {"state": "firing", "firing_since": now, "last_notified": now}
            self._record(changes, points, new, "firing", now)
            self._notify(rule, new, "firing", now, changes)
            return
        if not obs.active:
            self._end(rule, row, now, changes, points, notify=True, value=obs.value)
            return
        if obs.value == row["value"] and row["severity"] == self.rules.severity(rule):
            upd: dict[str, Any] = {"id": row["id"]}  # texts depend on the value only
            changed = False
        else:
            upd = self._refresh(rule, obs, row, now)
            changed = any(upd[k] != row.get(k) for k in upd if k != "last_eval")
        if row["state"] == "pending":
            if (now - row["active_since"]).total_seconds() >= rule.for_:
                upd |= {"state": "firing", "firing_since": now, "last_notified": now}
                merged = {**row, **upd}
                self._record(changes, points, merged, "firing", now)
                self._notify(rule, merged, "firing", now, changes)
        else:
            repeat = self.rules.repeat(rule)
            last = row["last_notified"] or row["firing_since"] or now
            if repeat and not row["acknowledged"] and (now - last).total_seconds() >= repeat:
                upd["last_notified"] = now
                self._notify(rule, {**row, **upd}, "reminder", now, changes)
        if changed or "state" in upd or "last_notified" in upd:
            changes.update_state.append(upd)

    def _new_row(self, rule: Rule, obs: Observation, now: datetime) -> dict[str, Any]:
        since = min(obs.since, now) if obs.since is not None else now
        ctx = self.context(rule, obs, since)
        dev = obs.device
        return {
            "id": obs.alert_id,
            "rule": rule.name,
            "kind": rule.kind,
            "severity": self.rules.severity(rule),
            "state": "pending",
            "active_since": since,
            "firing_since": None,
            "last_eval": now,
            "last_notified": None,
            "value": obs.value,
            "unit": obs.unit,
            "title": render(rule.title_template(self.lang), ctx),
            "description": render(rule.description_template(self.lang), ctx),
            "device_key": dev.device_key if dev else None,
            "device_name": device_name(dev) if dev else None,
            "site": dev.meta.site if dev else None,
            "labels": _labels(obs),
            "acknowledged": False,
            "acknowledged_by": None,
            "ack_comment": None,
            "silenced_until": None,
            "silence_comment": None,
        }

    def _refresh(
        self, rule: Rule, obs: Observation, row: Mapping[str, Any], now: datetime
    ) -> dict[str, Any]:
        ctx = self.context(rule, obs, row["active_since"])
        return {
            "id": row["id"],
            "value": obs.value,
            "unit": obs.unit,
            "last_eval": now,
            "title": render(rule.title_template(self.lang), ctx),
            "description": render(rule.description_template(self.lang), ctx),
            "severity": self.rules.severity(rule),
        }

    def _end(
        self,
        rule: Rule | None,
        row: Mapping[str, Any],
        now: datetime,
        changes: Changes,
        points: list[Point],
        *,
        notify: bool,
        value: float | None = None,
    ) -> None:
        changes.delete_state.append(row["id"])
        if row["state"] != "firing":
            return  # pending → ok: nothing was announced
        ended = {**row, "value": value if value is not None else row["value"]}
        self._record(changes, points, ended, "resolved", now)
        if notify and rule is not None:
            self._notify(rule, ended, "resolved", now, changes)

    def _record(
        self,
        changes: Changes,
        points: list[Point],
        row: Mapping[str, Any],
        event: str,
        now: datetime,
    ) -> None:
        changes.history.append(
            {
                "alert_id": row["id"],
                "rule": row["rule"],
                "severity": row["severity"],
                "event": event,
                "at": now,
                "value": row["value"],
                "unit": row["unit"],
                "title": row["title"],
                "device_key": row["device_key"],
                "comment": None,
            }
        )
        labels = row.get("labels") or {}
        tags = {
            "rule": row["rule"],
            "severity": row["severity"],
            "device": labels.get("device") or "",
            "dev_eui": labels.get("dev_eui") or "",
            "site": row.get("site") or "",
        }
        fields: dict[str, float | str] = {
            "state": event,
            "firing": 1.0 if event == "firing" else 0.0,
        }
        if row["value"] is not None:
            fields["value"] = float(row["value"])
        points.append(
            Point(
                measurement="lorawan_alert",
                tags={k: v for k, v in sorted(tags.items()) if v},
                fields=fields,
                time_ns=int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000,
            )
        )

    def _notify(
        self, rule: Rule, row: Mapping[str, Any], event: str, now: datetime, changes: Changes
    ) -> None:
        until = row.get("silenced_until")
        if until is not None and until > now:
            return
        words = EVENT_WORDS[self.lang]
        sev = SEVERITY_WORDS[self.lang][row["severity"]]
        title = f"[{words[event]}] {row['title']}"
        body = f"{sev}: {row['title']}\n{row['description']}"
        if event == "resolved":
            body += (
                f"\nBehoben um {self.when(now)}."
                if self.lang == "de"
                else f"\nResolved at {self.when(now)}."
            )
        for ch in self.rules.channels(rule):
            changes.outbox.append(
                {
                    "channel": ch,
                    "alert_id": row["id"],
                    "rule": row["rule"],
                    "severity": row["severity"],
                    "event": event,
                    "title": title,
                    "body": body,
                    "created_at": now,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_error": None,
                    "sent_at": None,
                }
            )


def _labels(obs: Observation) -> dict[str, str]:
    if obs.device is not None:
        return {"device": obs.device.device_id, "dev_eui": obs.device.dev_eui or ""}
    return {"device": obs.gateway or "", "gateway": obs.gateway or ""}


def _quantity_label(quantity: str, lang: str) -> str:
    try:
        row = quantity_info(quantity)
    except (KeyError, ValueError):
        return quantity
    return row.label_de if lang == "de" else row.label_en
