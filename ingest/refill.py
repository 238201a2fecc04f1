"""Refill gaps from The Things Stack's Storage Integration.

The Things Stack publishes on MQTT with QoS 0 only, so what it publishes while we
are disconnected is gone from MQTT. Its Storage Integration keeps recent uplinks
(``GET /api/v3/as/applications/{app}/packages/storage/uplink_message`` with an
``after`` time and an API key with RIGHT_APPLICATION_TRAFFIC_READ; the response is
newline-delimited JSON, one ``{"result": ApplicationUp}`` per line).

Fetched uplinks go through the same path as live ones (as MQTT-shaped messages on
``v3/{app}@{tenant}/devices/{device}/up``). Points are idempotent, so an uplink that
was already stored changes nothing.

The watermark — the newest ``received_at`` seen per TTS application — is kept in the
buffer database, so a refill after a restart knows where to start.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from ingest.models import RawMessage
from lorawan_monitor import metrics as m
from lorawan_monitor.errors import SinkAuthError, SinkUnavailableError
from lorawan_monitor.settings import TtsSettings

log = logging.getLogger(__name__)


class ApplicationRefusedError(SinkAuthError):
    """TTS refused one application (403): skipped, the others are refilled."""


class TtsStorageClient:
    def __init__(
        self, settings: TtsSettings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        if not settings.enabled:
            raise ValueError(
                "TTS Storage Integration needs LORAWAN_TTS__API_URL and LORAWAN_TTS__API_KEY"
            )
        assert settings.api_url is not None and settings.api_key is not None
        self.settings = settings
        #: applications the Storage Integration answered 404 for (not enabled / unknown)
        self.not_found: set[str] = set()
        self._client = httpx.Client(
            base_url=settings.api_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {settings.api_key.get_secret_value()}",
                "Accept": "text/event-stream",
            },
            timeout=60,
            transport=transport,
        )

    def uplinks(
        self, application: str, after: datetime, before: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stored uplink messages of an application, oldest first, paged by ``after``."""
        cursor = after
        seen: set[str] = set()
        while True:
            params = {
                "after": cursor.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "limit": str(self.settings.page_size),
                "order": "received_at",
            }
            if before is not None:
                params["before"] = before.astimezone(UTC).isoformat().replace("+00:00", "Z")
            path = f"/as/applications/{application}/packages/storage/uplink_message"
            try:
                r = self._client.get(path, params=params)
            except httpx.HTTPError as exc:
                raise SinkUnavailableError(f"TTS Storage Integration unreachable: {exc}") from exc
            if r.status_code == 403:  # the key is valid, but not for this application
                raise ApplicationRefusedError(
                    f"TTS refused application {application} (403): the API key needs"
                    " traffic read rights on it"
                )
            if r.status_code == 401:
                raise SinkAuthError(
                    f"TTS refused the API key ({r.status_code}): needs traffic read rights"
                )
            if r.status_code == 404:
                log.warning("TTS Storage Integration not enabled for application %s", application)
                self.not_found.add(application)
                return
            if r.status_code != 200:
                raise SinkUnavailableError(
                    f"TTS Storage Integration answered {r.status_code}: {r.text[:200]}"
                )
            page = []
            for line in r.text.splitlines():
                if not line.strip():
                    continue
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError:
                    log.warning("TTS Storage Integration sent a line that is not JSON; skipped")
                    continue
                result = obj.get("result") if isinstance(obj, dict) else None
                if isinstance(result, dict):
                    page.append(result)
            fresh = 0
            newest = cursor
            for up in page:
                key = _key(up)
                if key in seen:
                    continue
                seen.add(key)
                fresh += 1
                t = _received_at(up)
                if t is not None and t > newest:
                    newest = t
                yield up
            if len(page) < self.settings.page_size or fresh == 0 or newest <= cursor:
                return
            cursor = newest - timedelta(microseconds=1)  # inclusive re-read; `seen` drops repeats

    def close(self) -> None:
        self._client.close()


def _key(up: dict[str, Any]) -> str:
    ids = up.get("correlation_ids") or []
    return (
        next((c for c in ids if c.startswith("ns:uplink:")), "") or orjson.dumps(up).decode()[:200]
    )


def _received_at(up: dict[str, Any]) -> datetime | None:
    for v in ((up.get("uplink_message") or {}).get("received_at"), up.get("received_at")):
        if isinstance(v, str):
            try:
                return datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                continue
    return None


def as_raw_message(up: dict[str, Any], tenant: str) -> RawMessage | None:
    ids = up.get("end_device_ids") or {}
    app = (ids.get("application_ids") or {}).get("application_id")
    dev = ids.get("device_id")
    if not app or not dev:
        return None
    app_seg = f"{app}@{tenant}" if tenant else app
    return RawMessage(topic=f"v3/{app_seg}/devices/{dev}/up", payload=orjson.dumps(up))


class Watermarks:
    """Newest received_at per TTS application with stored uplinks, persisted beside the
    buffer. At most ``max_entries`` are kept (the most recently active): a flood of
    made-up application ids cannot grow it, nor the refill requests (#11)."""

    def __init__(self, path: Path, *, max_entries: int = 50) -> None:
        self.max_entries = max_entries
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS tts_watermarks (application TEXT PRIMARY KEY, received_at TEXT)"
        )
        self._lock = threading.Lock()
        self._cache: dict[str, datetime] = {
            a: datetime.fromisoformat(t)
            for a, t in self._db.execute("SELECT application, received_at FROM tts_watermarks")
        }

    def get(self) -> dict[str, datetime]:
        with self._lock:
            return dict(self._cache)

    def advance(self, updates: dict[str, datetime]) -> None:
        changed = {a: t for a, t in updates.items() if a not in self._cache or t > self._cache[a]}
        if not changed:
            return
        with self._lock:
            self._cache.update(changed)
            self._db.executemany(
                "INSERT INTO tts_watermarks (application, received_at) VALUES (?, ?)"
                " ON CONFLICT(application) DO UPDATE SET received_at = excluded.received_at",
                [(a, t.isoformat()) for a, t in changed.items()],
            )
            if len(self._cache) > self.max_entries:
                keep = sorted(self._cache, key=self._cache.__getitem__)[-self.max_entries :]
                for a in set(self._cache) - set(keep):
                    self._forget(a)

    def forget(self, application: str) -> None:
        """Drop an application (TTS refused or does not know it): no more refill asks."""
        with self._lock:
            self._forget(application)

    def _forget(self, application: str) -> None:
        self._cache.pop(application, None)
        self._db.execute("DELETE FROM tts_watermarks WHERE application = ?", (application,))

    def close(self) -> None:
        self._db.close()


def refill(
    client: TtsStorageClient,
    feed: Any,
    *,
    applications: dict[str, datetime],
    tenant: str,
    now: datetime | None = None,
    max_age: timedelta = timedelta(hours=24),
    on_refused: Any = None,
) -> int:
    """Fetch uplinks after each application's watermark and ``feed`` them; returns the count.

    An application TTS refuses (403: the key has no rights for it) or does not know
    (404) is skipped, and ``on_refused(app)`` is called: one made-up application id must
    not stop the refill of the others (#11)."""
    now = now or datetime.now(UTC)
    total = 0
    for app, since in sorted(applications.items()):
        if since > now:  # a watermark from a broken clock (before #11) must not stop refill
            log.warning("TTS refill watermark of %s lies in the future (%s); ignored", app, since)
            since = now - max_age
        after = max(since, now - max_age)
        n = 0
        try:
            for up in client.uplinks(app, after):
                raw = as_raw_message(up, tenant)
                if raw is not None:
                    feed(raw)
                    n += 1
        except ApplicationRefusedError as exc:
            log.warning("TTS refill of application %s refused: %s", app, exc)
            if on_refused is not None:
                on_refused(app)
            continue
        if app in getattr(client, "not_found", ()) and on_refused is not None:
            on_refused(app)
        if n:
            log.info(
                "refilled %d uplinks of TTS application %s since %s", n, app, after.isoformat()
            )
        m.REFILLED.inc(n)
        total += n
    return total
