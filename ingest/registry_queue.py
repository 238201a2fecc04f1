"""Registry updates as durable as the readings (#20).

What the registry must record for a chunk of messages — the uplink records (journal rows
and the status fold), battery levels from status events, codec errors the network server
reported — is encoded here into one compact blob, committed to the durable buffer in the
same transaction as the chunk's points (before the broker hears the PUBACK), and applied
to the registry from there by :class:`RegistryApplier`, its own thread: in order, with
retries and exponential backoff while the registry is down, and idempotently (the
registry skips an uplink it has journaled already, so a batch applied twice — a crash
between applying and deleting it — changes nothing).

A registry outage therefore delays the installer view but loses no journal row, and the
frame-loss figures stay exact: every uplink is folded into its device's status exactly
once, late ones as late deliveries (they close the gap an earlier newer one opened).

The encoding is JSON (orjson: fast, no code runs when it is read, readable by any later
Python) of positional rows under a header of field names, so a buffer written by an older
version is still read when :class:`UplinkRecord` gains a field with a default.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

import orjson

from ingest.buffer import DeadLetter, DurableBuffer, RegistryBatch
from lorawan_monitor import metrics as m
from lorawan_monitor.health import ServiceState
from storage.registry_base import Registry, UplinkRecord

log = logging.getLogger(__name__)

_VERSION = 1
_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(UplinkRecord))
_GET = attrgetter(*_FIELDS)
_AT = _FIELDS.index("received_at")
_PAYLOAD = _FIELDS.index("payload")
_DEAD_TOPIC = "registry"


@dataclass(frozen=True, slots=True)
class Battery:
    device_key: str
    time: datetime
    percent: float


@dataclass(frozen=True, slots=True)
class CodecError:
    device_key: str
    time: datetime
    message: str
    uplink_id: str | None


@dataclass(slots=True)
class Work:
    """What one or more chunks must record in the registry, in order."""

    records: list[UplinkRecord] = field(default_factory=list)
    batteries: list[Battery] = field(default_factory=list)
    codec_errors: list[CodecError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records) + len(self.batteries) + len(self.codec_errors)

    def extend(self, other: Work) -> None:
        self.records += other.records
        self.batteries += other.batteries
        self.codec_errors += other.codec_errors


def _default(obj: Any) -> Any:
    """What orjson cannot write by itself, as the registry's JSON columns would store it."""
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj).hex()
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    if hasattr(obj, "items"):
        return dict(obj.items())
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _row(r: UplinkRecord) -> list[Any]:
    row = list(_GET(r))
    row[_PAYLOAD] = bytes(row[_PAYLOAD]).hex()
    return row


def _dumps(obj: Any) -> bytes | None:
    try:
        return orjson.dumps(obj, default=_default)
    except (TypeError, ValueError, orjson.JSONEncodeError):
        return None


def encode(work: Work) -> tuple[bytes, list[tuple[Any, str]]]:
    """The blob for ``work``, and what could not be encoded (item, reason): a record with
    a value JSON cannot hold (an integer beyond 64 bits, nesting deeper than 254) cannot be
    stored by the registry either; it is dead-lettered alone instead of taking its chunk."""
    rows = [_row(r) for r in work.records]
    batteries = [[b.device_key, b.time, b.percent] for b in work.batteries]
    errors = [[c.device_key, c.time, c.message, c.uplink_id] for c in work.codec_errors]
    blob = _dumps([_VERSION, _FIELDS, rows, batteries, errors])
    if blob is not None:
        return blob, []
    bad: list[tuple[Any, str]] = []
    kept: list[list[list[Any]]] = []
    groups: tuple[tuple[Sequence[Any], list[list[Any]]], ...] = (
        (work.records, rows),
        (work.batteries, batteries),
        (work.codec_errors, errors),
    )
    for items, encoded in groups:
        keep: list[list[Any]] = []
        for item, enc in zip(items, encoded, strict=True):
            if _dumps(enc) is None:
                bad.append((item, "cannot be queued for the registry (not representable)"))
            else:
                keep.append(enc)
        kept.append(keep)
    return orjson.dumps([_VERSION, _FIELDS, *kept], default=_default), bad


def decode(body: bytes) -> Work:
    """The :class:`Work` of one blob (raises ValueError for a blob it cannot read)."""
    try:
        version, names, rows, batteries, errors = orjson.loads(body)
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise ValueError(f"unreadable registry batch: {exc}") from exc
    if version != _VERSION:
        raise ValueError(f"registry batch version {version} (this version reads {_VERSION})")
    at, payload = names.index("received_at"), names.index("payload")
    known = set(_FIELDS)
    keep = [i for i, n in enumerate(names) if n in known]  # a field dropped since: ignored
    fromiso, fromhex = datetime.fromisoformat, bytes.fromhex
    records = []
    for row in rows:
        row[at] = fromiso(row[at])
        row[payload] = fromhex(row[payload])
        records.append(UplinkRecord(**{names[i]: row[i] for i in keep}))
    return Work(
        records=records,
        batteries=[Battery(k, fromiso(t), float(p)) for k, t, p in batteries],
        codec_errors=[CodecError(k, fromiso(t), msg, u) for k, t, msg, u in errors],
    )


def dead_letter(item: Any, reason: str, message: str) -> DeadLetter:
    """A registry item that will not be recorded, kept with its reason (never silent)."""
    key = getattr(item, "device_key", "")
    if isinstance(item, UplinkRecord):
        body = _dumps(dict(zip(_FIELDS, _row(item), strict=True))) or repr(item).encode()
    elif isinstance(item, bytes):
        body = item
    else:
        body = repr(item).encode()
    return DeadLetter(
        time=time.time(),
        topic=f"{_DEAD_TOPIC}/{key}" if key else _DEAD_TOPIC,
        payload=body,
        reason=reason,
        message=message[:2000],
    )


class RegistryApplier:
    """Applies the queued registry batches, oldest first, in its own thread.

    * the registry down: the batch stays queued; retries back off from 0.5 s to 30 s; one
      ERROR line when it goes down, one INFO line when it is back (with the backlog);
    * a batch that keeps failing while the registry answers (a poison record the
      registry does not isolate itself): after ``max_attempts`` it is applied record by
      record, and what still fails while a probe shows the registry up is dead-lettered
      (``lorawan_dropped_total{reason="registry_rejected"}``) — one bad record never
      blocks the queue;
    * several queued chunks are applied in one registry transaction while catching up;
    * and on purpose (#19): while fewer than ``min_records`` items are queued, the applier
      waits up to ``gather_s`` for more before it applies them. The registry's cost per
      uplink falls with the batch (one status row per device and batch, one transaction,
      one lock): 200-uplink chunks of the side-by-side workload cost it about 1.5 times
      what 2,000 do. The installer view lags by at most ``gather_s`` more; ``flush()``
      (the service's stop) ends the waiting.
    """

    def __init__(
        self,
        buffer: DurableBuffer,
        registry: Registry,
        *,
        max_records: int = 4_000,
        max_attempts: int = 4,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_cached: int = 6_000,
        on_applied: Callable[[], None] | None = None,
        state: ServiceState | None = None,
        min_records: int = 2_000,
        gather_s: float = 0.25,
    ) -> None:
        self.buffer = buffer
        #: the readiness state of the service that owns this applier (its own when None)
        self.state = state if state is not None else ServiceState()
        self.registry = registry
        self.max_records = max_records
        self.max_attempts = max_attempts
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self._on_applied = on_applied
        self.min_records = min_records
        self.gather_s = gather_s
        self._wake = threading.Event()
        self._full = threading.Event()  # min_records are queued, or flush(): apply now
        self._flushing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._failing_id: int | None = None
        #: batches this process queued, still decoded (id -> work): the normal path never
        #: decodes a blob; after a restart, or past ``max_cached`` items, the blob is read
        self._cache: dict[int, Work] = {}
        self._cached = 0
        self._done_upto = 0
        self.max_cached = max_cached
        self._cache_lock = threading.Lock()
        self.down = False
        #: items dead-lettered because the registry would not take them (since start)
        self.rejected = 0
        #: registry batches applied (since start)
        self.applied = 0
        self._publish()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="registry-applier", daemon=True)
        self._thread.start()

    def queued(self, batch_id: int | None, work: Work) -> None:
        """``work`` was committed as batch ``batch_id`` (the processor calls this after each
        chunk): kept decoded while the cache has room, and the thread woken."""
        if batch_id is not None and self._cached + len(work) <= self.max_cached:
            with self._cache_lock:
                if batch_id > self._done_upto:  # not applied from its blob meanwhile
                    self._cache[batch_id] = work
                    self._cached += len(work)
        if self.buffer.registry_pending >= self.min_records:
            self._full.set()
        self._wake.set()

    def flush(self) -> None:
        """Apply what is queued without waiting for more (stop, drain)."""
        self._flushing = True
        self._full.set()
        self._wake.set()

    def _work(self, b: RegistryBatch) -> Work:
        with self._cache_lock:
            work = self._cache.get(b.id)
        return work if work is not None else decode(b.body)

    def _forget(self, batches: Sequence[RegistryBatch]) -> None:
        with self._cache_lock:
            for b in batches:
                self._done_upto = max(self._done_upto, b.id)
                work = self._cache.pop(b.id, None)
                if work is not None:
                    self._cached -= len(work)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._full.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def pending(self) -> int:
        return self.buffer.registry_pending

    # -- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self.min_backoff
        while not self._stop.is_set():
            if self._gather():
                continue
            batches = self.buffer.registry_peek(self.max_records, self._cache)
            if not batches:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            try:
                self.apply_once(batches)
            except Exception as exc:  # registry down, or a batch it refuses: retried
                self._failed(batches[0], exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = self.min_backoff

    def _gather(self) -> bool:
        """Wait (up to ``gather_s``) while fewer than ``min_records`` items are queued;
        True when the applier stopped meanwhile. Not while the registry is down or a batch
        is being retried (their own backoff paces them)."""
        pending = self.buffer.registry_pending
        if (
            not pending
            or pending >= self.min_records
            or self.gather_s <= 0
            or self._flushing
            or self._failures
        ):
            return self._stop.is_set()
        self._full.clear()
        if self.buffer.registry_pending < self.min_records:
            self._full.wait(self.gather_s)
        return self._stop.is_set()

    def apply_once(self, batches: Sequence[RegistryBatch]) -> None:
        """Apply ``batches`` (one transaction for their records) and delete them from the
        buffer; raises when the registry failed (nothing is deleted then)."""
        if self._failures >= self.max_attempts and self._failing_id == batches[0].id:
            self._isolate(batches[0])
            return
        if self._failures and len(batches) > 1 and self._failing_id == batches[0].id:
            batches = batches[:1]  # retrying: the failing batch alone
        work = Work()
        unreadable: list[RegistryBatch] = []
        for b in batches:
            try:
                work.extend(self._work(b))
            except ValueError as exc:
                log.error("registry batch %d cannot be read (%s); dead-lettered", b.id, exc)
                unreadable.append(b)
        refused: list[DeadLetter] = []
        self._apply(work, refused)
        self._done(
            batches,
            [*(dead_letter(b.body, "registry_unreadable", "") for b in unreadable), *refused],
        )

    def _apply(self, work: Work, refused: list[DeadLetter]) -> None:
        """Apply ``work``; records the registry refuses (it isolates them itself, #11)
        are collected in ``refused`` as dead letters."""
        reg = self.registry
        if work.records:
            reg.record_uplinks(
                work.records,
                on_rejected=lambda r, why: refused.append(dead_letter(r, "registry_rejected", why)),
            )
        for b in work.batteries:
            reg.record_battery(b.device_key, time=b.time, percent=b.percent)
        for c in work.codec_errors:
            reg.record_codec_error(
                c.device_key, time=c.time, message=c.message, uplink_id=c.uplink_id
            )

    def _isolate(self, batch: RegistryBatch) -> None:
        """Apply one batch item by item; dead-letter the items the registry refuses while
        it answers otherwise. Raises (leaving the batch queued) when the registry is down."""
        try:
            work = self._work(batch)
        except ValueError as exc:
            self._done([batch], [dead_letter(batch.body, "registry_unreadable", str(exc))])
            return
        dead: list[DeadLetter] = []
        items: Iterable[Any] = [*work.records, *work.batteries, *work.codec_errors]
        for item in items:
            one = Work()
            if isinstance(item, UplinkRecord):
                one.records.append(item)
            elif isinstance(item, Battery):
                one.batteries.append(item)
            else:
                one.codec_errors.append(item)
            try:
                self._apply(one, dead)  # the items before it are replayed idempotently
            except Exception as exc:
                self._probe()  # raises when the registry itself is down: retry later
                log.error("registry refuses one item of batch %d: %s; dead-lettered", batch.id, exc)
                dead.append(dead_letter(item, "registry_rejected", str(exc)))
        self._done([batch], dead)

    def _probe(self) -> None:
        """Raises when the registry does not answer a plain read."""
        self.registry.device_meta("\x00registry-probe")

    def _done(self, batches: Sequence[RegistryBatch], dead: Sequence[DeadLetter]) -> None:
        self.buffer.registry_remove(batches, dead)
        self._forget(batches)
        if dead:
            self.rejected += len(dead)
            m.DROPPED.labels(reason="registry_rejected").inc(len(dead))
        self.applied += len(batches)
        self._failures, self._failing_id = 0, None
        if self.down:
            self.down = False
            log.info(
                "registry is back; applying the %d queued updates", self.buffer.registry_pending
            )
        self._publish()
        if self._on_applied is not None:
            self._on_applied()

    def _failed(self, batch: RegistryBatch, exc: Exception) -> None:
        if self._failing_id == batch.id:
            self._failures += 1
        else:
            self._failing_id, self._failures = batch.id, 1
        if not self.down:
            self.down = True
            log.error(
                "registry unavailable: %s; its updates wait in the buffer (%d queued) and are "
                "applied when it is back",
                exc,
                self.buffer.registry_pending,
            )
        self._publish(error=str(exc))

    def _publish(self, error: str | None = None) -> None:
        pending = self.buffer.registry_pending
        m.REGISTRY_PENDING.set(pending)
        self.state.set_registry(pending, not self.down, error if self.down else None)
