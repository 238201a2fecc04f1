"""Decentlab payload protocol version 2, table-driven (every Decentlab DL-* sensor).

Source: Decentlab "Data format" documentation of each product (decentlab.com product
pages, "Payload structure") and the per-model codecs of the TTN Device Repository
(``vendor/decentlab/dl-<model>.js``), whose output the decoders reproduce key for key.

Frame (big endian, uplink port 1)::

    0     protocol version, must be 2
    1-2   device id
    3-4   flags: bit i set = sensor group i is present
    5-    for each present group, in order: ``length`` unsigned 16-bit words

Each group's words are converted into named values; the vendor dict holds
``{"<name>": {"displayName": ..., "value": ..., "unit": ...}}`` plus ``protocol_version``
and ``device_id`` (``unit`` is absent for unitless values, as in the vendor codecs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from decoders._bits import Reader
from decoders.base import Decoder
from decoders.errors import PayloadLengthError, ProtocolVersionError, UnsupportedPortError

PROTOCOL_VERSION = 2
Words = Sequence[int]


@dataclass(frozen=True, kw_only=True)
class Value:
    name: str
    display: str
    convert: Callable[[Words], float | int]
    unit: str | None = None


@dataclass(frozen=True, kw_only=True)
class Group:
    length: int
    values: tuple[Value, ...]


def offset(i: int, divisor: float = 1) -> Callable[[Words], float | int]:
    """``(x[i] - 32768) / divisor``: the Decentlab encoding of signed values."""
    if divisor == 1:
        return lambda x: x[i] - 32768
    return lambda x: (x[i] - 32768) / divisor


def plain(i: int, divisor: float = 1) -> Callable[[Words], float | int]:
    if divisor == 1:
        return lambda x: x[i]
    return lambda x: x[i] / divisor


BATTERY = Group(
    length=1,
    values=(
        Value(name="battery_voltage", display="Battery voltage", convert=plain(0, 1000), unit="V"),
    ),
)


class DecentlabV2(Decoder):
    """Base class: subclasses declare ``groups`` (and ``fields``)."""

    groups: ClassVar[tuple[Group, ...]] = ()
    label: ClassVar[str] = ""
    ports = (1,)

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if f_port != 1:
            raise UnsupportedPortError(f"{self.label}: unknown port {f_port} (sends on port 1)")
        if len(payload) < 5:
            raise PayloadLengthError(
                f"{self.label} expects at least 5 bytes on port {f_port}, got {len(payload)}"
            )
        r = Reader(payload, what=f"{self.label} payload")
        version = r.u8()
        if version != PROTOCOL_VERSION:
            raise ProtocolVersionError(
                f"{self.label}: protocol version {version} doesn't match v{PROTOCOL_VERSION}"
            )
        out: dict[str, Any] = {"protocol_version": version, "device_id": r.u16()}
        flags = r.u16()
        need = 5 + 2 * sum(g.length for i, g in enumerate(self.groups) if flags >> i & 1)
        if len(payload) < need:
            raise PayloadLengthError(
                f"{self.label} expects {need} bytes on port {f_port} for flags "
                f"0x{flags:04x}, got {len(payload)}"
            )
        for i, group in enumerate(self.groups):
            if not flags >> i & 1:
                continue
            words = [r.u16() for _ in range(group.length)]
            for v in group.values:
                entry: dict[str, Any] = {"displayName": v.display, "value": v.convert(words)}
                if v.unit is not None:
                    entry["unit"] = v.unit
                out[v.name] = entry
        return out
