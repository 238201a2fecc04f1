"""Several sources in one ingest (issue #16): one MQTT connection per source, one stream.

:class:`MultiSourceTransport` is the transport of :class:`ingest.service.IngestService`
when ``LORAWAN_SOURCES`` (or ``sources:`` in the YAML file) is set. It runs one
:class:`ingest.transport.mqtt.MqttTransport` per source — each with its own paho thread,
reconnect and back-off, so one broker that is down, refuses the login or denies the
topics never stalls the others — and hands every message to the same ``feed``. Each
message carries its source's name (``RawMessage.source``), and its acknowledgement token
is wrapped with the source's index, so the service's ``ack`` reaches the broker the
message came from, after the message is in the durable buffer.

Health is per source: down once (ERROR naming the source and its setting), back once
(INFO), in readiness (``sources``) and in ``lorawan_source_up{source=...}``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from ingest.models import RawMessage
from ingest.transport.mqtt import ClientFactory, Left, MqttTransport, default_client_id
from lorawan_monitor.errors import ConfigError
from lorawan_monitor.health import DependencyHealth, ServiceState
from lorawan_monitor.metrics import MQTT_CONNECTED, SOURCE_UP
from lorawan_monitor.settings import Settings, SourceSettings, TtsSettings

log = logging.getLogger(__name__)
_MQTT_SETTING = re.compile(r"LORAWAN_MQTT__([A-Z_]+)")


class SourceHealth(DependencyHealth):
    """Down once / back once for one source, in words that name it and its settings.

    The transport's diagnosis speaks of ``LORAWAN_MQTT__HOST`` and the like; for a source
    those are ``LORAWAN_SOURCES[i].host`` (the i-th entry of ``sources``)."""

    def __init__(
        self, index: int, source: str, logger: logging.Logger, state: ServiceState
    ) -> None:
        super().__init__(f"source:{source}", logger, state)
        self.state = state
        self.index = index
        self.source = source

    def _words(self, message: str) -> str:
        named = _MQTT_SETTING.sub(
            lambda m: f"LORAWAN_SOURCES[{self.index}].{m.group(1).lower()}", message
        )
        return f"source {self.source!r}: {named}"

    def down(self, message: str) -> bool:
        text = self._words(message)
        new = super().down(text)
        SOURCE_UP.labels(source=self.source).set(0)
        self.state.set_source(self.source, False, text)
        return new

    def up(self, message: str) -> bool:
        was_down = super().up(self._words(message))
        SOURCE_UP.labels(source=self.source).set(1)
        self.state.set_source(self.source, True, None)
        return was_down


class SourceTransport(MqttTransport):
    """One source's broker connection: the MQTT transport, plus the source's name in its
    reports and a check of the broker's answer to SUBSCRIBE (an ACL that denies the
    topics leaves a connection that never delivers anything: that is an outage too)."""

    def __init__(
        self,
        index: int,
        source: SourceSettings,
        settings: Settings,
        on_message: Callable[[RawMessage], None],
        *,
        on_change: Callable[[], None],
        on_connect: Callable[[bool], None] | None = None,
        client_factory: ClientFactory | None = None,
        state: ServiceState | None = None,
        subscribe: bool = True,
    ) -> None:
        base = settings.mqtt.client_id or default_client_id()
        client_id = source.client_id or f"{base}-{source.name}"
        super().__init__(
            source.mqtt(settings.mqtt, client_id),
            on_message,
            on_connect=on_connect,
            # None: the transport's own choice (its fast client, or plain paho as fallback)
            client_factory=client_factory,
            state=state,
            subscribe=subscribe,
        )
        self.index = index
        self.name = source.name
        self.health = SourceHealth(index, source.name, log, self.state)
        self._on_change = on_change
        self._denied: list[str] = []
        self._retry: threading.Timer | None = None
        self._retry_delay = float(self.settings.reconnect_min_delay)
        self._sub_lock = threading.Lock()
        self.client.on_subscribe = self._on_subscribe
        SOURCE_UP.labels(source=source.name).set(0)
        self.state.set_source(source.name, False, f"source {source.name!r}: connecting")

    @property
    def up(self) -> bool:
        return self.connected.is_set() and not self.health.down_now

    def stop(self, *, expire_session: bool = False) -> None:
        self._stopping = True
        if self._retry is not None:
            self._retry.cancel()
        super().stop(expire_session=expire_session)
        self.state.set_source(self.name, None, None)  # stopped on purpose: no longer a problem
        self._on_change()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        with self._sub_lock:
            self._denied = []  # the (re)connect subscribes to every topic again
        super()._on_connect(client, userdata, flags, reason, properties)
        self._on_change()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        super()._on_disconnect(client, userdata, flags, reason, properties)
        if self._retry is not None:
            self._retry.cancel()  # the reconnect subscribes again anyway
        self._on_change()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        with self._sub_lock:
            asked = self._denied or self.settings.topic_filters()
            codes = list(reasons)
            denied = [t for t, rc in zip(asked, codes, strict=False) if _failed(rc)]
            self._denied = denied
        if denied:
            self.health.down(
                f"MQTT broker {self.settings.host}:{self.settings.port} denied the subscription "
                f"to {', '.join(denied)} ({codes[0] if codes else '?'}); retrying — check the "
                "broker's ACL for LORAWAN_MQTT__USERNAME and LORAWAN_MQTT__TOPICS"
            )
            self._schedule_retry()
        elif self.health.down_now:
            self._retry_delay = float(self.settings.reconnect_min_delay)
            self.health.up(
                f"subscribed to {', '.join(asked)} on "
                f"{self.settings.host}:{self.settings.port} again"
            )
        self._on_change()

    def _schedule_retry(self) -> None:
        if self._stopping:
            return
        delay = self._retry_delay
        self._retry_delay = min(delay * 2, float(self.settings.reconnect_max_delay))
        self._retry = threading.Timer(delay, self._resubscribe)
        self._retry.daemon = True
        self._retry.start()

    def _resubscribe(self) -> None:
        with self._sub_lock:
            topics = list(self._denied)
        if topics and self.connected.is_set() and not self._stopping:
            self.client.subscribe([(t, int(self.settings.qos)) for t in topics])


def _failed(rc: Any) -> bool:
    """A SUBACK reason code that refuses the subscription (paho ReasonCode or int)."""
    failure = getattr(rc, "is_failure", None)
    if failure is not None:
        return bool(failure)
    return isinstance(rc, int) and rc >= 0x80


class MultiSourceTransport:
    """All sources of ``settings.sources`` as one transport (``start``/``stop``/``ack``)."""

    def __init__(
        self,
        settings: Settings,
        feed: Callable[[RawMessage], None],
        *,
        on_connect: Callable[[SourceSettings, bool], None] | None = None,
        client_factory: ClientFactory | None = None,
        watermarks: Callable[[], dict[str, datetime]] | None = None,
        refill_transport: Any = None,
        state: ServiceState | None = None,
        subscribe: bool = True,
    ) -> None:
        """``subscribe`` False: a drain of a retired worker (#16) — resume each source's
        session without subscribing and without a gap refill (:meth:`leave`)."""
        if not settings.sources:
            raise ConfigError("LORAWAN_SOURCES: no sources configured")
        self.settings = settings
        #: the readiness state of the service this transport feeds (its own when None)
        self.state = state if state is not None else ServiceState()
        self._feed = feed
        self._lock = threading.Lock()
        self._user_on_connect = on_connect
        self._watermarks = watermarks or _watermarks_of(feed, settings)
        #: HTTP transport of the Storage Integration client (tests: None = real HTTP)
        self.refill_transport = refill_transport
        self.refilled: dict[str, int] = {s.name: 0 for s in settings.sources}
        self.refill_threads: list[threading.Thread] = []
        self._refilling: dict[str, threading.Lock] = {
            s.name: threading.Lock() for s in settings.sources
        }
        self._stopped = threading.Event()
        self._subscribe = subscribe
        self.received: dict[str, int] = {s.name: 0 for s in settings.sources}
        self.transports: list[SourceTransport] = []
        for i, source in enumerate(settings.sources):
            self.transports.append(
                SourceTransport(
                    i,
                    source,
                    settings,
                    self._feeder(i, source.name),
                    on_change=self._aggregate,
                    on_connect=_bind(self._connected, source),
                    client_factory=client_factory,
                    state=self.state,
                    subscribe=subscribe,
                )
            )
        _COLLECTOR.current = self

    def _feeder(self, index: int, name: str) -> Callable[[RawMessage], None]:
        feed, received = self._feed, self.received

        def on_message(raw: RawMessage) -> None:
            raw.source = name
            if raw.ack_token is not None:
                raw.ack_token = (index, raw.ack_token)
            received[name] += 1  # only this source's paho thread writes this entry
            feed(raw)

        return on_message

    def start(self) -> None:
        if not self._subscribe:
            self._stopped.set()  # a drain: no gap refill
        for t in self.transports:
            t.start()
        for source in self.settings.sources:
            self.trigger_refill(source, "start")
        log.info(
            "ingest from %d sources: %s",
            len(self.transports),
            ", ".join(f"{t.name} ({t.settings.host}:{t.settings.port})" for t in self.transports),
        )

    def stop(self, *, expire_session: bool = False) -> None:
        self._stopped.set()
        for th in self.refill_threads:
            th.join(timeout=10)
        for t in self.transports:
            try:
                t.stop(expire_session=expire_session)
            except Exception as exc:  # one source's trouble must not keep the others open
                log.warning("source %r: stopping failed: %s", t.name, exc)

    def leave(self, topics: Sequence[str] = (), timeout: float = 30.0) -> Left:
        """A drain of a retired worker (#16): on each source, wait for the connection (the
        worker's session resumed) and unsubscribe the worker's filters (each source's own;
        ``topics`` is for the one-broker transport), so its broker routes nothing new to
        that session; what it queued still comes. ``failed`` names the sources where that
        failed (broker down, no UNSUBACK): their sessions stay, and the drain is tried again
        at the next start."""
        deadline = time.monotonic() + timeout
        failed = []
        for t in self.transports:
            if not t.connected.wait(max(0.1, deadline - time.monotonic())):
                log.error(
                    "drain: source %r (%s:%s) not reachable; its session of client id %s "
                    "stays until the next start",
                    t.name,
                    t.settings.host,
                    t.settings.port,
                    t.settings.client_id,
                )
                failed.append(t.name)
            elif not t.unsubscribe(t.settings.topic_filters()):
                log.error("drain: source %r did not confirm the unsubscribe", t.name)
                failed.append(t.name)
        return Left(failed, draining=len(failed) < len(self.transports))

    def ack(self, tokens: Sequence[Any]) -> None:
        """Hand each token back to the source that produced it."""
        per: dict[int, list[Any]] = {}
        for token in tokens:
            if token is not None:
                per.setdefault(token[0], []).append(token[1])
        for index, inner in per.items():
            self.transports[index].ack(inner)

    def wait_subscribed(self, timeout: float = 10.0) -> bool:
        """True when every source is connected and subscribed (tests)."""
        return all(t.wait_subscribed(timeout) for t in self.transports)

    def states(self) -> list[dict[str, Any]]:
        """Each source's name, broker, state and reason (readiness, tests)."""
        out = []
        for t in self.transports:
            out.append(
                {
                    "name": t.name,
                    "broker": f"{t.settings.host}:{t.settings.port}",
                    "up": t.up,
                    "reason": t.health.error,
                }
            )
        return out

    # -- gap refill per TTS source (Storage Integration) --------------------------------

    def _connected(self, source: SourceSettings, reconnect: bool) -> None:
        if reconnect:
            self.trigger_refill(source, "reconnect")
        if self._user_on_connect is not None:
            self._user_on_connect(source, reconnect)

    def trigger_refill(self, source: SourceSettings, why: str) -> threading.Thread | None:
        """Fetch what this source's TTS Storage Integration kept after our watermarks, in
        the background; one refill per source at a time, the sources independently."""
        tts = source.tts(self.settings.tts)
        if not tts.enabled or self._stopped.is_set():
            return None
        lock = self._refilling[source.name]
        if not lock.acquire(blocking=False):
            return None
        t = threading.Thread(
            target=self._refill, args=(source, tts, why, lock), name=f"refill-{source.name}"
        )
        t.daemon = True
        self.refill_threads.append(t)
        t.start()
        return t

    def _refill(self, source: SourceSettings, tts: TtsSettings, why: str, lock: Any) -> None:
        from ingest.refill import TtsStorageClient, refill

        try:
            max_age = timedelta(hours=tts.max_age_hours)
            marks = self._watermarks()
            since = datetime.now(UTC) - max_age
            apps = {a: marks.get(a, since) for a in refill_applications(source)}
            name = source.name

            def feed(raw: RawMessage) -> None:
                raw.source = name
                self._feed(raw)

            client = TtsStorageClient(tts, transport=self.refill_transport)
            try:
                n = refill(client, feed, applications=apps, tenant=tts.tenant, max_age=max_age)
            finally:
                client.close()
            self.refilled[name] += n
            log.info(
                "source %r: gap refill (%s): %d uplinks fetched from The Things Stack",
                name,
                why,
                n,
            )
        except Exception as exc:  # one source's refill trouble is reported, never fatal
            log.error(
                "source %r: gap refill (%s) failed: %s — check LORAWAN_SOURCES[%d].api_url / "
                ".api_key",
                source.name,
                why,
                exc,
                self.settings.sources.index(source),
            )
        finally:
            lock.release()

    def _aggregate(self) -> None:
        """The process-wide "connected" state: every source up."""
        with self._lock:
            up = all(t.up for t in self.transports)
            self.state.mqtt_connected = up
            MQTT_CONNECTED.set(1 if up else 0)


def _bind(
    cb: Callable[[SourceSettings, bool], None] | None, source: SourceSettings
) -> Callable[[bool], None] | None:
    if cb is None:
        return None
    return lambda reconnect: cb(source, reconnect)


class _ReceivedCollector(Collector):
    """``lorawan_source_messages_total{source}``: messages received per source, counted as
    plain integers on the hot path and read only when /metrics is scraped."""

    current: MultiSourceTransport | None = None

    def collect(self) -> Iterable[CounterMetricFamily]:
        fam = CounterMetricFamily(
            "lorawan_source_messages",
            "MQTT messages received per source (LORAWAN_SOURCES)",
            labels=["source"],
        )
        current = self.current
        if current is not None:
            for name, n in current.received.items():
                fam.add_metric([name], n)
        yield fam


_COLLECTOR = _ReceivedCollector()
REGISTRY.register(_COLLECTOR)


def refill_applications(source: SourceSettings) -> list[str]:
    """The TTS applications a source refills: ``applications``, else the one its MQTT login
    names (The Things Stack's MQTT username is ``<application>@<tenant>``)."""
    if source.applications:
        return list(source.applications)
    if source.username:
        return [source.username.split("@", 1)[0]]
    return []


def refill_target(
    settings: Settings, source: str | None, applications: list[str] | None
) -> tuple[TtsSettings, list[str]]:
    """What ``refill`` fetches: the Storage Integration and applications of the source
    named ``source``, or of ``LORAWAN_TTS__*``. ValueError in the operator's words."""
    if source is None:
        if not applications:
            raise ValueError("refill: --application is required (or --source NAME)")
        if not settings.tts.enabled:
            raise ValueError("refill needs LORAWAN_TTS__API_URL and LORAWAN_TTS__API_KEY")
        return settings.tts, applications
    names = [s.name for s in settings.sources]
    if source not in names:
        raise ValueError(
            f"--source {source!r}: no such source in LORAWAN_SOURCES "
            f"(known: {', '.join(names) or 'none'})"
        )
    i = names.index(source)
    src = settings.sources[i]
    tts = src.tts(settings.tts)
    if not tts.enabled:
        raise ValueError(
            f"--source {source!r}: refill needs LORAWAN_SOURCES[{i}].api_url and "
            f"LORAWAN_SOURCES[{i}].api_key"
        )
    apps = applications or refill_applications(src)
    if not apps:
        raise ValueError(
            f"--source {source!r}: no application — give --application, or "
            f"LORAWAN_SOURCES[{i}].applications / a username application@tenant"
        )
    return tts, apps


def _watermarks_of(
    feed: Callable[[RawMessage], None], settings: Settings
) -> Callable[[], dict[str, datetime]]:
    """The service's own watermarks when ``feed`` is ``IngestService.feed`` (the service
    advances them as TTS uplinks are buffered); else read them from its state file."""
    owner = getattr(feed, "__self__", None)
    marks = getattr(owner, "watermarks", None)
    get = getattr(marks, "get", None)
    if callable(get):
        return lambda: dict(get())

    def from_file() -> dict[str, datetime]:
        from ingest.refill import Watermarks

        w = Watermarks(settings.storage.data_dir / "state.db")
        try:
            return w.get()
        finally:
            w.close()

    return from_file


def shares(source: SourceSettings, settings: Settings) -> bool:
    """True when ``source`` can be split over workers: it speaks MQTT 5, whose shared
    subscriptions (``$share/<group>/…``) hand each message to one member of the group.
    The Things Stack's MQTT server speaks 3.1.1 only (kind ``tts``, or protocol 3.1.1)."""
    return source.mqtt(settings.mqtt, "x").protocol_version() == 5


def check_workers(settings: Settings, workers: int) -> None:
    """``--workers N`` with sources: the sources with shared subscriptions are split over
    the N workers, the others (The Things Stack) are served by worker 1 alone
    (:func:`for_worker`). Refused when no source can be shared: N - 1 workers would idle."""
    if workers <= 1 or not settings.sources:
        return
    if not any(shares(s, settings) for s in settings.sources):
        names = ", ".join(repr(s.name) for s in settings.sources)
        raise ConfigError(
            f"--workers {workers}: every source in LORAWAN_SOURCES ({names}) speaks MQTT 3.1.1 "
            "(The Things Stack), which has no shared subscriptions — such a source is served "
            "by one worker only, so the others would idle. Run one worker (the default)"
        )


def for_worker(settings: Settings, index: int) -> Settings:
    """The settings of worker ``index`` (1-based) of ``ingest --workers N`` with sources.

    * A source with shared subscriptions is served by every worker, in the share group
      ``share_group`` of the source, else the workers' (``LORAWAN_MQTT__SHARE_GROUP``, set
      by the supervisor); a fixed ``client_id`` gets the worker's number appended, as the
      broker needs one per connection.
    * A source without (The Things Stack, MQTT 3.1.1) is served by worker 1 only: every
      worker subscribed to it would receive, and store, every uplink. Its gap refill
      runs there too.

    Without sources, or for the single ``ingest`` process, the settings are unchanged."""
    if not settings.sources:
        return settings
    group = settings.mqtt.share_group or "lorawan-monitor"
    mine: list[SourceSettings] = []
    for s in settings.sources:
        if shares(s, settings):
            mine.append(
                s.model_copy(
                    update={
                        "share_group": s.share_group or group,
                        "client_id": f"{s.client_id}-{index}" if s.client_id else None,
                    }
                )
            )
        elif index == 1:
            mine.append(s)
    return settings.model_copy(update={"sources": mine})


def transport_factory(
    settings: Settings, *, subscribe: bool = True
) -> Callable[[Callable[[RawMessage], None], ServiceState], MultiSourceTransport] | None:
    """What ``IngestService(transport_factory=...)`` takes: None without sources (the one
    ``LORAWAN_MQTT__*`` broker, unchanged). The service calls it with its ``feed`` and its
    readiness state. ``subscribe`` False: a drain (:meth:`MultiSourceTransport.leave`)."""
    if not settings.sources:
        return None
    return lambda feed, state: MultiSourceTransport(
        settings, feed, state=state, subscribe=subscribe
    )
