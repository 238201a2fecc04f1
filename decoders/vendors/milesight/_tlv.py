"""Milesight "channel / type" TLV framing, table-driven (EM300, AM300, VS13x families).

Source: the Milesight user guides' "Uplink Packet" tables (e.g. EM300-TH User Guide §6.1,
AM300 Series User Guide §6.2, VS133 User Guide §6.2) and the codecs in the TTN Device
Repository (``vendor/milesight-iot/<model>.js``), whose output the decoders reproduce.

A payload is a sequence of ``channel_id (1) | channel_type (1) | data (n)``; ``n`` is
fixed per (channel, type) pair and numbers are little endian. Each model declares a
table of :class:`Channel` rows.

One deliberate departure: the vendor codecs stop silently at the first channel they do
not know. So do we, but we record where in the extra key ``_unparsed`` (the only key
that is ours, never present when the whole payload was understood), and
``normalize`` turns it into a warning.

Ports: the vendor codecs ignore the port (the devices use 85 by default; the TTN
example for the EM300-TH uses 1), so any application port 1-223 is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from decoders._bits import Reader
from decoders.base import Decoder, Normalized, normalize_table
from decoders.errors import PayloadLengthError, UnsupportedPortError

UNPARSED = "_unparsed"


@dataclass(frozen=True, kw_only=True)
class Channel:
    """One (channel id, channel type) row: ``read`` turns the data bytes into keys.

    ``group`` nests the keys one level down (``{"line_1": {...}}``), as some codecs do.
    """

    id: int
    type: int
    read: Callable[[Reader], dict[str, Any]]
    group: str = ""


# Readers for the common value encodings (all little endian).
def u8(key: str, scale: float = 1) -> Callable[[Reader], dict[str, Any]]:
    return lambda r: {key: _scaled(r.u8(), scale)}


def u16(key: str, scale: float = 1) -> Callable[[Reader], dict[str, Any]]:
    return lambda r: {key: _scaled(r.u16le(), scale)}


def s16(key: str, scale: float = 1) -> Callable[[Reader], dict[str, Any]]:
    return lambda r: {key: _scaled(r.s16le(), scale)}


def u32(key: str) -> Callable[[Reader], dict[str, Any]]:
    return lambda r: {key: r.u32le()}


def flag(key: str, on: str, off: str) -> Callable[[Reader], dict[str, Any]]:
    """One byte: ``on`` when it is 1, else ``off`` (as the vendor codecs compare ``=== 1``)."""
    return lambda r: {key: on if r.u8() == 1 else off}


def _scaled(raw: int, scale: float) -> float | int:
    # ``x / 10`` in the vendor JS: divide (not multiply by 0.1) to get the same double
    return raw if scale == 1 else raw / scale


class MilesightTLV(Decoder):
    """Base class: subclasses set ``channels`` (and ``fields``, ``states``)."""

    channels: ClassVar[tuple[Channel, ...]] = ()
    #: vendor string values -> numbers before the ``fields`` table (e.g. pir trigger/idle)
    states: ClassVar[Mapping[str, Mapping[str, float]]] = {}
    label: ClassVar[str] = ""
    ports = (85,)

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if not 1 <= f_port <= 223:
            raise UnsupportedPortError(f"{self.label}: unknown port {f_port}")
        if not payload:
            raise PayloadLengthError(f"{self.label}: empty payload on port {f_port}")
        table = {(c.id, c.type): c for c in self.channels}
        r = Reader(payload)
        out: dict[str, Any] = {}
        while r.remaining() > 0:
            start = r.pos
            if r.remaining() < 2:
                raise PayloadLengthError(
                    f"{self.label}: channel header cut short at byte {start} "
                    f"({len(payload)} bytes in all)"
                )
            cid, ctype = r.u8(), r.u8()
            row = table.get((cid, ctype))
            if row is None:
                out[UNPARSED] = (
                    f"unknown channel 0x{cid:02x} type 0x{ctype:02x} at byte {start}; "
                    f"{len(payload) - start} bytes not decoded"
                )
                break
            values = row.read(r)
            target = out.setdefault(row.group, {}) if row.group else out
            target.update(values)
        return out

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        view = dict(decoded)
        for key, mapping in self.states.items():
            if isinstance(view.get(key), str) and view[key] in mapping:
                view[key] = mapping[view[key]]
        n = normalize_table(view, self.fields)
        if UNPARSED in decoded:
            return Normalized(
                readings=n.readings, warnings=(*n.warnings, f"{UNPARSED}: {decoded[UNPARSED]}")
            )
        return n
