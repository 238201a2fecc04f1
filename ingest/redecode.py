"""Re-decode journaled raw uplinks with the current decoders (``lorawan-monitor redecode``).

After a codec fix or a late model assignment (a model override set in the registry),
the journal's raw uplinks of a time range are run through the same pipeline as live
ingest (:meth:`ingest.pipeline.Pipeline.process_uplink`), so their readings get the
same measurement, tags and timestamps as if they had been decoded on arrival. Writing
them is idempotent: running the same re-decode twice changes nothing.

What it writes and what it leaves alone:

* the readings of every uplink that decodes now (a point per reading);
* not the ``lorawan_uplink`` radio point: it was written at ingest with all the radio
  metadata (the journal keeps only gateways, RSSI and SNR), and its ``decode_status``
  tag records what happened at the time;
* readings an earlier decode wrote under other tags (another model or sensor label)
  are not deleted;
* the registry's journal entries get the new decode status, and a device whose last
  uplink was re-decoded gets the new status and last readings.

The journal holds the last ``LORAWAN_STORAGE__JOURNAL_PER_DEVICE`` uplinks per device:
older uplinks cannot be re-decoded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from decoders.catalog import NATIVE, DecoderCatalog
from ingest.models import Gateway, Source, Uplink
from ingest.pipeline import UPLINK_MEASUREMENT, Pipeline
from storage.base import Point, TimeSeriesStore
from storage.lineprotocol import parse_line
from storage.registry_base import DeviceStatus, JournalEntry, Registry, UplinkRecord

log = logging.getLogger(__name__)
_SOURCES: tuple[Source, ...] = ("tts", "chirpstack", "chirpstack-v3")


@dataclass(frozen=True, kw_only=True)
class RedecodeSummary:
    uplinks: int = 0  # journal entries looked at
    decoded: int = 0  # gave readings (our decoder or the network server's payload)
    failed: int = 0  # still no readings (decode error, no decoder, no payload)
    changed: int = 0  # decode status differs from the journal's
    points: int = 0  # reading points written (or that would be, with dry_run)
    devices: int = 0
    skipped: int = 0  # device no longer in the registry
    dry_run: bool = False

    def line(self) -> str:
        what = "would write" if self.dry_run else "wrote"
        return (
            f"{self.uplinks} uplinks of {self.devices} devices: {self.decoded} decoded, "
            f"{self.failed} still failing, {self.changed} changed status; "
            f"{what} {self.points} points"
            + (f"; {self.skipped} skipped (device unknown)" if self.skipped else "")
        )


def uplink_from_journal(entry: JournalEntry, device: DeviceStatus) -> Uplink:
    """Rebuild the Uplink as ingest saw it, from a journal entry and the device row."""
    source: Source = next((s for s in _SOURCES if s == device.source), "chirpstack")
    gateways = tuple(
        Gateway(gateway_id=str(g.get("gateway_id") or ""), rssi=g.get("rssi"), snr=g.get("snr"))
        for g in entry.gateways
    )
    lns = dict(entry.decoded) if entry.status == "lns_decoded" and entry.decoded else None
    normalized = None
    if entry.status == "lns_normalized" and entry.decoded:  # pipeline._from_lns keeps both
        inner = entry.decoded.get("decoded_payload")
        lns = dict(inner) if isinstance(inner, dict) else None
        listed = entry.decoded.get("normalized_payload")
        normalized = tuple(listed) if isinstance(listed, list) else None
    return Uplink(
        source=source,
        uplink_id=entry.uplink_id,
        device_id=device.device_id,
        dev_eui=device.dev_eui,
        application=device.application,
        f_port=entry.f_port,
        f_cnt=entry.f_cnt,
        payload=entry.payload,
        received_at=entry.received_at,
        gateways=gateways,
        model_id=entry.model_id,
        lns_decoded=lns,
        lns_normalized=normalized,
    )


def redecode(
    registry: Registry,
    store: TimeSeriesStore,
    *,
    model_id: str | None,
    start: datetime,
    end: datetime,
    device: str | None = None,
    dry_run: bool = False,
    decoders: DecoderCatalog = NATIVE,
    default_site: str = "",
    batch: int = 500,
    progress: Callable[[int, int, RedecodeSummary], None] | None = None,
) -> RedecodeSummary:
    """Re-decode the journal entries of ``model_id`` (and ``device``) in ``[start, end)``.

    ``progress(done, total, summary_so_far)`` is called after every ``batch`` uplinks."""
    entries = registry.journal_for_redecode(model_id=model_id, start=start, end=end)
    if device is not None:
        want = device.strip()
        ok = {k for k in {e.device_key for e in entries} if _matches(k, want, registry)}
        entries = [e for e in entries if e.device_key in ok]
    pipeline = Pipeline(
        decoder_catalog=decoders, meta_lookup=registry.device_meta, default_site=default_site
    )
    devices: dict[str, DeviceStatus | None] = {}
    s = _Tally(dry_run=dry_run)
    for i in range(0, len(entries), batch):
        chunk = entries[i : i + batch]
        points: list[Point] = []
        records: list[UplinkRecord] = []
        for e in chunk:
            if e.device_key not in devices:
                devices[e.device_key] = registry.get_device(e.device_key)
            dev = devices[e.device_key]
            if dev is None:
                s.skipped += 1
                continue
            r = pipeline.process_uplink(uplink_from_journal(e, dev))
            readings = [ln for ln in r.points if not ln.startswith(UPLINK_MEASUREMENT + ",")]
            points.extend(parse_line(ln) for ln in readings)
            assert r.record is not None
            records.append(r.record)
            s.count(e, r.record, len(readings))
        if not dry_run:
            if points:
                store.write(points)  # SinkError propagates: nothing is marked done
            if records:
                registry.record_redecode(records)
        s.devices = sum(1 for d in devices.values() if d is not None)
        if progress is not None:
            progress(min(i + batch, len(entries)), len(entries), s.freeze())
    return s.freeze()


def _matches(device_key: str, want: str, registry: Registry) -> bool:
    if device_key.upper() == want.upper():
        return True
    dev = registry.get_device(device_key)
    return dev is not None and want in (dev.device_id, dev.meta.name)


@dataclass(kw_only=True)
class _Tally:
    dry_run: bool
    uplinks: int = 0
    decoded: int = 0
    failed: int = 0
    changed: int = 0
    points: int = 0
    devices: int = 0
    skipped: int = 0

    def count(self, e: JournalEntry, rec: UplinkRecord, n_points: int) -> None:
        self.uplinks += 1
        ok: Sequence[str] = ("decoded", "lns_decoded", "lns_normalized")
        if rec.status in ok:
            self.decoded += 1
        else:
            self.failed += 1
        if rec.status != e.status:
            self.changed += 1
        self.points += n_points

    def freeze(self) -> RedecodeSummary:
        return RedecodeSummary(
            uplinks=self.uplinks + self.skipped,
            decoded=self.decoded,
            failed=self.failed,
            changed=self.changed,
            points=self.points,
            devices=self.devices,
            skipped=self.skipped,
            dry_run=self.dry_run,
        )
