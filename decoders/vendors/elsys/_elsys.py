"""Elsys type-value payload, table-driven (ERS, ERS CO2, ELT, EMS families).

Source: Elsys "Generic payload" document (elsys.se, payload v1.x: one type byte followed by
a fixed-size big-endian value) and the codec of the TTN Device Repository
``vendor/elsys/elsys.js``, whose output the decoders reproduce key for key, including
its quirks (32-bit values are signed; GPS coordinates are raw unsigned 24-bit numbers;
a repeated external temperature 2 becomes a list; a repeated type overwrites).

As with the Milesight module, the vendor codec stops silently at an unknown type byte;
we stop too and record it in the extra key ``_unparsed``, which ``normalize`` turns into
a warning. Elsys sensors send on port 5 by default (configurable); the vendor codec
ignores the port, so any application port 1-223 is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from decoders._bits import Reader
from decoders.base import Decoder, Normalized, normalize_table
from decoders.errors import PayloadLengthError, UnsupportedPortError

UNPARSED = "_unparsed"
Read = Callable[[Reader, dict[str, Any]], None]


def _set(key: str, get: Callable[[Reader], float | int]) -> Read:
    def read(r: Reader, out: dict[str, Any]) -> None:
        out[key] = get(r)

    return read


def _tenths_signed(r: Reader) -> float:
    return r.s16() / 10


def _acc(r: Reader, out: dict[str, Any]) -> None:
    out["x"], out["y"], out["z"] = r.s8(), r.s8(), r.s8()


def _gps(r: Reader, out: dict[str, Any]) -> None:
    out["lat"], out["long"] = r.u24(), r.u24()


def _ir(r: Reader, out: dict[str, Any]) -> None:
    out["irInternalTemperature"] = r.s16() / 10
    out["irExternalTemperature"] = r.s16() / 10


def _grideye(r: Reader, out: dict[str, Any]) -> None:
    ref = r.u8()
    out["grideye"] = [ref + b / 10.0 for b in r.bytes(64)]


def _sound(r: Reader, out: dict[str, Any]) -> None:
    out["soundPeak"], out["soundAvg"] = r.u8(), r.u8()


def _ext_temp2(r: Reader, out: dict[str, Any]) -> None:
    value = r.s16() / 10
    prev = out.get("externalTemperature2")
    if isinstance(prev, list):
        prev.append(value)
    elif isinstance(prev, int | float):
        out["externalTemperature2"] = [prev, value]
    else:
        out["externalTemperature2"] = value


#: type byte -> reader (sizes are implied by the reader)
TYPES: dict[int, Read] = {
    0x01: _set("temperature", _tenths_signed),
    0x02: _set("humidity", Reader.u8),
    0x03: _acc,
    0x04: _set("light", Reader.u16),
    0x05: _set("motion", Reader.u8),
    0x06: _set("co2", Reader.u16),
    0x07: _set("vdd", Reader.u16),
    0x08: _set("analog1", Reader.u16),
    0x09: _gps,
    0x0A: _set("pulse1", Reader.u16),
    0x0B: _set("pulseAbs", Reader.s32),
    0x0C: _set("externalTemperature", _tenths_signed),
    0x0D: _set("digital", Reader.u8),
    0x0E: _set("distance", Reader.u16),
    0x0F: _set("accMotion", Reader.u8),
    0x10: _ir,
    0x11: _set("occupancy", Reader.u8),
    0x12: _set("waterleak", Reader.u8),
    0x13: _grideye,
    0x14: _set("pressure", lambda r: r.s32() / 1000),
    0x15: _sound,
    0x16: _set("pulse2", Reader.u16),
    0x17: _set("pulseAbs2", Reader.s32),
    0x18: _set("analog2", Reader.u16),
    0x19: _ext_temp2,
    0x1A: _set("digital2", Reader.u8),
    0x1B: _set("analogUv", Reader.s32),
    0x1C: _set("tvoc", Reader.u16),
}


class ElsysDecoder(Decoder):
    label: ClassVar[str] = ""
    ports = (5,)

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if not 1 <= f_port <= 223:
            raise UnsupportedPortError(f"{self.label}: unknown port {f_port}")
        if not payload:
            raise PayloadLengthError(f"{self.label}: empty payload on port {f_port}")
        r = Reader(payload, what=f"{self.label} payload")
        out: dict[str, Any] = {}
        while r.remaining() > 0:
            start = r.pos
            kind = r.u8()
            read = TYPES.get(kind)
            if read is None:
                out[UNPARSED] = (
                    f"unknown type 0x{kind:02x} at byte {start}; "
                    f"{len(payload) - start} bytes not decoded"
                )
                break
            read(r, out)
        return out

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        n = normalize_table(decoded, self.fields)
        if UNPARSED in decoded:
            return Normalized(
                readings=n.readings, warnings=(*n.warnings, f"{UNPARSED}: {decoded[UNPARSED]}")
            )
        return n
