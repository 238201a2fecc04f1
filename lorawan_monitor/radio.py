"""LoRa radio arithmetic both sides use: the envelope parsers (ingest) and builders
(simulator). Shared ground: it imports nothing of ours."""

from __future__ import annotations

import math


def lora_data_rate(sf: int | None, bw: int | None, frequency: int | None) -> int | None:
    """Regional DR index from SF/BW (RP002): US902-928 uplinks (902-915 MHz) use DR0=SF10;
    every other region uses DR0..5 = SF12..SF7 at 125 kHz, DR6 = SF7/250 kHz (EU, AS) or
    SF8/500 kHz (AU). None when it cannot be told."""
    if sf is None or bw is None:
        return None
    us = frequency is not None and 902_000_000 <= frequency < 915_000_000
    if bw == 125_000:
        if us:
            return 10 - sf if 7 <= sf <= 10 else None
        return 12 - sf if 7 <= sf <= 12 else None
    if bw == 250_000 and sf == 7 and not us:
        return 6
    if bw == 500_000 and sf == 8:
        return 4 if us else 6
    return None


def lora_from_data_rate(dr: int | None, frequency: int | None) -> tuple[int, int] | None:
    """(SF, BW) for a DR index where the band is known from the frequency (EU863-870 only)."""
    if dr is None or frequency is None or not 863_000_000 <= frequency <= 870_000_000:
        return None
    if 0 <= dr <= 5:
        return 12 - dr, 125_000
    if dr == 6:
        return 7, 250_000
    return None


def lora_airtime(phy_len: int, sf: int, bw: int = 125_000, preamble: int = 8) -> float:
    """Semtech AN1200.13 time on air, explicit header, CRC on, coding rate 4/5."""
    tsym = (1 << sf) / bw
    de = 1 if sf >= 11 and bw == 125_000 else 0
    n = math.ceil((8 * phy_len - 4 * sf + 28 + 16) / (4 * (sf - 2 * de)))
    return (preamble + 4.25) * tsym + (8 + max(n * 5, 0)) * tsym
