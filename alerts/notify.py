"""Channels (apprise URLs, or the built-in ``log``) and delivery of the outbox.

Delivery takes the due outbox rows (claimed for a while, so a lease taken over meanwhile
does not send them twice), groups them per channel, and sends one message per channel
once the group's oldest row has waited ``group_wait`` (so 30 sensors going silent when
their gateway dies make one message, with the gateway rule in it). A send that fails is
retried with exponential backoff (``retry_min`` doubling up to ``retry_max``), counted in
``lorawan_notifications_total{result="failed"}``, and kept until it is delivered: nothing
is dropped.

Delivery is at-least-once with a stable id. Before a message is handed to its channel,
its rows are marked ``sending`` in a committed transaction; from then on they stay one
message (new rows wait for the next one) until the channel accepts it, and every attempt
carries the same key (:func:`notification_key`): webhooks get it as the
``Idempotency-Key`` header, e-mails as ``X-Lorawan-Notification-Id`` (apprise sets its own
``Message-ID``). A crash between the channel's accept and the commit that marks the rows
sent (milliseconds) therefore re-sends the same message with the same key, which the
receiver can drop.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import SecretStr

from alerts.metrics import NOTIFICATIONS
from alerts.rules import LOG_CHANNEL
from alerts.state import AlertDb
from lorawan_monitor.errors import ConfigError, LoraMonitorError

log = logging.getLogger(__name__)
#: a grouped message lists at most this many alerts (then "… and N more")
MAX_LISTED = 50
#: the header a webhook (json://, xml://, form:// …) gets the notification key in
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: the header an e-mail gets it in
EMAIL_ID_HEADER = "X-Lorawan-Notification-Id"


def notification_key(rows: Sequence[Mapping[str, Any]]) -> str:
    """The stable id of one message: its channel, its outbox rows and when the first was
    created (so that two installations' row ids do not collide)."""
    ids = sorted(int(r["id"]) for r in rows)
    first = min(rows, key=lambda r: int(r["id"]))
    seed = f"{first['channel']}|{first['created_at'].isoformat()}|{','.join(map(str, ids))}"
    return "lm-" + hashlib.sha256(seed.encode()).hexdigest()[:32]


class DeliveryError(LoraMonitorError):
    reason = "delivery"


class Channel(Protocol):
    name: str

    def send(self, title: str, body: str, key: str | None = None) -> None:
        """Deliver one message; raise DeliveryError when the channel did not take it.
        ``key`` is the message's stable id, the same on every attempt (sent where the
        channel has a place for it)."""


class LogChannel:
    """The built-in channel: the message goes to the service log (what the demo uses)."""

    name = LOG_CHANNEL

    def send(self, title: str, body: str, key: str | None = None) -> None:
        log.warning(
            "alert notification %s (channel 'log'; would send):\n%s\n%s", key or "", title, body
        )


class AppriseChannel:
    """One apprise URL (``mailto://``, ``msteams://``/``workflows://``, ``json://`` …)."""

    def __init__(self, name: str, url: SecretStr) -> None:
        import apprise

        self.name = name
        self._url = url
        if not apprise.Apprise().add(url.get_secret_value()):
            raise ConfigError(
                f"LORAWAN_ALERTS__CHANNELS__{name.upper()}: not a URL apprise understands "
                "(e.g. mailtos://user:password@smtp.example.org?to=a@example.org, "
                "workflows://…, json://host/path)"
            )
        self._format = apprise.NotifyFormat.TEXT

    def send(self, title: str, body: str, key: str | None = None) -> None:
        import apprise
        from apprise.plugins.email.base import NotifyEmail

        # a fresh Apprise per message: an instance throttles its second send by 5.5 s, and
        # our sends are already grouped and backed off
        notifier = apprise.Apprise()
        notifier.add(self._url.get_secret_value())
        if key is not None:
            for plugin in notifier:  # the plugins with custom headers (the URL's "+Name=")
                headers = getattr(plugin, "headers", None)
                if isinstance(headers, dict):
                    name = (
                        EMAIL_ID_HEADER if isinstance(plugin, NotifyEmail) else IDEMPOTENCY_HEADER
                    )
                    headers[name] = key
        try:
            ok = notifier.notify(title=title, body=body, body_format=self._format)
        except Exception as exc:  # apprise catches most; a plugin bug must not end delivery
            raise DeliveryError(f"channel {self.name}: {exc!r}") from exc
        if not ok:
            raise DeliveryError(f"channel {self.name}: not delivered (apprise reported failure)")


def build_channels(urls: Mapping[str, SecretStr]) -> dict[str, Channel]:
    channels: dict[str, Channel] = {LOG_CHANNEL: LogChannel()}
    for name, url in urls.items():
        if name == LOG_CHANNEL:
            raise ConfigError("LORAWAN_ALERTS__CHANNELS__LOG: 'log' is the built-in channel")
        channels[name] = AppriseChannel(name, url)
    return channels


def compose(rows: Sequence[Mapping[str, Any]], lang: str = "de") -> tuple[str, str]:
    """One message for a channel's group of outbox rows."""
    if len(rows) == 1:
        return rows[0]["title"], rows[0]["body"]
    order = {"critical": 0, "warning": 1, "info": 2}
    rows = sorted(rows, key=lambda r: (r["event"] == "resolved", order.get(r["severity"], 3)))
    fired = sum(r["event"] in ("firing", "reminder") for r in rows)
    resolved = sum(r["event"] == "resolved" for r in rows)
    if lang == "de":
        title = f"{len(rows)} Alarmmeldungen: {fired} ausgelöst, {resolved} behoben"
    else:
        title = f"{len(rows)} alert notifications: {fired} firing, {resolved} resolved"
    parts = [f"{r['title']}\n{r['body']}" for r in rows[:MAX_LISTED]]
    if len(rows) > MAX_LISTED:
        more = len(rows) - MAX_LISTED
        parts.append(f"… und {more} weitere" if lang == "de" else f"… and {more} more")
    return title, "\n\n".join(parts)


class Deliverer:
    def __init__(
        self,
        db: AlertDb,
        channels: Mapping[str, Channel],
        *,
        group_wait: float = 30.0,
        retry_min: float = 5.0,
        retry_max: float = 900.0,
        claim_s: float = 120.0,
        language: str = "de",
    ) -> None:
        self.db, self.channels = db, channels
        self.group_wait, self.retry_min, self.retry_max = group_wait, retry_min, retry_max
        self.claim_s, self.lang = claim_s, language

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1`` (after ``attempts`` failures)."""
        return float(min(self.retry_max, self.retry_min * 2 ** max(0, attempts - 1)))

    def deliver(self, now: datetime, holder: str | None) -> int:
        """Send what is due; returns the number of messages delivered."""
        rows = self.db.claim_due(holder=holder, now=now, claim_s=self.claim_s)
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(r["channel"], []).append(r)
        sent = 0
        for name, group in groups.items():
            ids = [r["id"] for r in group]
            bound = [r for r in group if r["status"] == "sending"]
            if bound:  # a message already tried: sent again as it was, the others wait
                waiting = [r["id"] for r in group if r["status"] != "sending"]
                self.db.release_claim(waiting, at=now)
                group, ids = bound, [r["id"] for r in bound]
            else:
                ready = min(r["created_at"] for r in group) + timedelta(seconds=self.group_wait)
                if all(r["attempts"] == 0 for r in group) and ready > now:
                    self.db.release_claim(ids, at=ready)
                    continue
            channel = self.channels.get(name)
            title, body = compose(group, self.lang)
            key = notification_key(group)
            try:
                if channel is None:
                    raise DeliveryError(
                        f"channel {name!r} is not configured (LORAWAN_ALERTS__CHANNELS__"
                        f"{name.upper()}); kept until it is"
                    )
                if not bound:  # durable before the channel sees it: one message, one key
                    self.db.mark_sending(ids)
                channel.send(title, body, key)
            except DeliveryError as exc:
                NOTIFICATIONS.labels(channel=name, result="failed").inc()
                retry = {
                    r["id"]: now + timedelta(seconds=self.backoff(r["attempts"] + 1)) for r in group
                }
                log.warning(
                    "alert notification not delivered (%d alerts, retry in %.0f s): %s",
                    len(group),
                    min(retry.values()).timestamp() - now.timestamp(),
                    exc,
                )
                self.db.mark_failed(ids, error=str(exc), retry_at=retry)
                continue
            NOTIFICATIONS.labels(channel=name, result="sent").inc()
            self.db.mark_sent(ids, now=now)
            sent += 1
            log.info("alert notification %s sent on %s: %s", key, name, title)
        return sent
