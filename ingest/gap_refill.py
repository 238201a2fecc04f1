"""The ingest's gap refill thread: what The Things Stack stored after our watermarks.

Started at start-up and after an MQTT reconnect (one at a time), it fetches from the
TTS Storage Integration (:mod:`ingest.refill`) and feeds what it gets to the inbox.

A part of :class:`ingest.service.IngestService` (which creates the attributes below).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lorawan_monitor.settings import Settings

if TYPE_CHECKING:
    from ingest.models import RawMessage
    from ingest.refill import Watermarks

log = logging.getLogger(__name__)


class GapRefillMixin:
    """``trigger_refill()`` and the MQTT (re)connect hook that calls it."""

    settings: Settings
    watermarks: Watermarks
    refilled: int
    _refill_lock: threading.Lock
    _refill_threads: list[threading.Thread]
    _refill_transport: Any

    if TYPE_CHECKING:

        def feed(self, raw: RawMessage) -> None: ...

    def _on_mqtt_connect(self, reconnect: bool) -> None:
        if reconnect and self.settings.tts.enabled:
            self.trigger_refill("reconnect")

    def trigger_refill(self, why: str) -> threading.Thread | None:
        """Fetch what TTS stored after our watermarks, in the background (one at a time)."""
        if not self._refill_lock.acquire(blocking=False):
            return None

        def run() -> None:
            from datetime import timedelta

            from ingest.refill import TtsStorageClient, refill

            try:
                tts = self.settings.tts
                max_age = timedelta(hours=tts.max_age_hours)
                apps = self._refill_applications(max_age)
                if not apps:
                    log.info("gap refill (%s): no TTS application known yet", why)
                    return
                client = TtsStorageClient(tts, transport=self._refill_transport)
                try:
                    n = refill(
                        client,
                        self.feed,
                        applications=apps,
                        tenant=tts.tenant,
                        max_age=max_age,
                        on_refused=None if tts.applications else self.watermarks.forget,
                    )
                finally:
                    client.close()
                self.refilled += n
                log.info("gap refill (%s): %d uplinks fetched from The Things Stack", why, n)
            except Exception as exc:
                log.error("gap refill (%s) failed: %s", why, exc)
            finally:
                self._refill_lock.release()

        t = threading.Thread(target=run, name="tts-refill", daemon=True)
        t.start()
        self._refill_threads.append(t)
        return t

    def _refill_applications(self, max_age: Any) -> dict[str, datetime]:
        """The configured TTS applications (``LORAWAN_TTS__APPLICATIONS``) when there are
        any, else those with stored uplinks (confirmed traffic), capped in number — never
        any ``v3/...`` topic seen once (#11)."""
        learned = self.watermarks.get()
        configured = self.settings.tts.applications
        if configured:
            start = datetime.now(UTC) - max_age
            return {a: learned.get(a, start) for a in configured}
        cap = self.settings.ingest.max_refill_applications
        newest = sorted(learned, key=learned.__getitem__, reverse=True)[:cap]
        return {a: learned[a] for a in newest}
