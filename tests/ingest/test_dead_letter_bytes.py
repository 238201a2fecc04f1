"""Dead letters are bounded in bytes, large payloads kept truncated with their size, and
an oversized MQTT message is rejected ``too_large`` (#11 point 6)."""

from __future__ import annotations

from pathlib import Path

from ingest.buffer import DeadLetter, DurableBuffer
from ingest.models import RawMessage
from ingest.service import IngestService
from lorawan_monitor.settings import load_settings
from storage.sqlite import SqliteStore


def _dl(i: int, size: int) -> DeadLetter:
    return DeadLetter(time=i, topic="t", payload=b"x" * size, reason="malformed", message="m")


def test_large_payloads_are_truncated_with_their_original_size(tmp_path: Path) -> None:
    b = DurableBuffer(tmp_path / "b.db", dead_letter_payload_bytes=1000)
    b.append([], [_dl(1, 10_000_000), _dl(2, 10)])
    small, big = b.dead_letters()
    assert (len(big.payload), big.size) == (1000, 10_000_000)
    assert (small.payload, small.size) == (b"x" * 10, None)
    b.close()


def test_dead_letters_stay_within_their_byte_cap_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    b = DurableBuffer(path, dead_letter_max_bytes=200_000, dead_letter_payload_bytes=16_384)
    for i in range(150):  # 150 messages of 10 MB: 1.58 GB before the fix
        b.append([], [_dl(i, 10_000_000)])
        assert b.stats()["dead_letter_bytes"] <= 200_000
    kept = b.dead_letters(limit=1000)
    assert kept[0].time == 149 and 0 < len(kept) < 150
    b.close()
    assert path.stat().st_size < 2_000_000
    again = DurableBuffer(path, dead_letter_max_bytes=200_000)  # the count survives a restart
    assert again.stats()["dead_letter_bytes"] == sum(len(d.payload) + 1 for d in kept)
    again.close()


def test_an_oversized_mqtt_message_is_rejected_and_dead_lettered_truncated(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        storage={"data_dir": str(tmp_path)}, ingest={"max_message_bytes": 100_000}
    )
    store = SqliteStore(tmp_path / "ts.db")
    svc = IngestService(settings, store=store)
    try:
        payload = b'{"end_device_ids": "' + b"A" * 1_000_000 + b'"}'
        [r] = svc.process_batch([RawMessage(topic="v3/a@ttn/devices/d/up", payload=payload)])
        assert (r.outcome, r.reason) == ("rejected", "too_large")
        assert "LORAWAN_INGEST__MAX_MESSAGE_BYTES" in (r.message or "")
        [dl] = svc.buffer.dead_letters()
        assert dl.size == len(payload) and len(dl.payload) == 16_384
    finally:
        svc.stop(flush_timeout=0.1)
        store.close()
