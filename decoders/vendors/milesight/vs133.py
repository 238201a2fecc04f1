"""Milesight VS133 ToF people counter (model id ``milesight-iot/vs133``), tourism.

Source: Milesight VS133 User Guide, "Uplink Packet" table; TTN Device Repository
``vendor/milesight-iot/vs133.js``. Framing: :mod:`._tlv`.

Up to four counting lines. Per line n (1-4), with channel base ``3 * (n - 1)``:
total in 0x03+base 0xD2 (u32, running total), total out 0x04+base 0xD2 (u32), period
counts 0x05+base 0xCC (u16 in, u16 out over the reporting period). The vendor dict
nests them as ``{"line_1": {"total_in", "total_out", "period_in", "period_out"}}``;
readings carry ``sensor="line_<n>"``.
"""

from __future__ import annotations

from typing import Any

from decoders._bits import Reader
from decoders.base import Field
from decoders.catalog import register
from decoders.quantities import Quantity
from decoders.vendors.milesight._tlv import Channel, MilesightTLV, u32

Q = Quantity
LINES = (1, 2, 3, 4)


def _period(r: Reader) -> dict[str, Any]:
    return {"period_in": r.u16le(), "period_out": r.u16le()}


def _line_channels(n: int) -> tuple[Channel, ...]:
    base = 3 * (n - 1)
    group = f"line_{n}"
    return (
        Channel(id=0x03 + base, type=0xD2, read=u32("total_in"), group=group),
        Channel(id=0x04 + base, type=0xD2, read=u32("total_out"), group=group),
        Channel(id=0x05 + base, type=0xCC, read=_period, group=group),
    )


def _line_fields(n: int) -> tuple[Field, ...]:
    g = f"line_{n}"
    return (
        Field(key=f"{g}.total_in", quantity=Q.PEOPLE_IN_TOTAL, sensor=g),
        Field(key=f"{g}.total_out", quantity=Q.PEOPLE_OUT_TOTAL, sensor=g),
        Field(key=f"{g}.period_in", quantity=Q.PEOPLE_IN, sensor=g),
        Field(key=f"{g}.period_out", quantity=Q.PEOPLE_OUT, sensor=g),
    )


@register
class VS133(MilesightTLV):
    model_ids = ("milesight-iot/vs133",)
    vendor = "Milesight"
    model_name = "VS133"
    category = "tourism"
    description = "People counter (ToF), up to 4 lines: running totals and per-period counts"
    label = "VS133"
    channels = tuple(c for n in LINES for c in _line_channels(n))
    fields = tuple(f for n in LINES for f in _line_fields(n))
