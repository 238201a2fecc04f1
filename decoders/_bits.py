"""A bounds-checked big/little-endian reader for payload bytes.

Every read checks the length first, so a short payload raises ``PayloadLengthError``
("need 2 bytes at offset 7, have 1") instead of IndexError / struct.error.
"""

from __future__ import annotations

import struct

from decoders.errors import PayloadLengthError


class Reader:
    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, *, what: str = "payload") -> None:
        self.data = bytes(data)
        self.pos = 0
        self.what = what

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def need(self, n: int) -> None:
        if self.pos + n > len(self.data):
            have = len(self.data) - self.pos
            raise PayloadLengthError(
                f"{self.what} too short: need {n} byte{'s' if n != 1 else ''} "
                f"at offset {self.pos}, have {have}"
            )

    def bytes(self, n: int) -> bytes:
        self.need(n)
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def _unpack(self, fmt: str, n: int) -> int:
        self.need(n)
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += n
        return int(v)

    def u8(self) -> int:
        return self._unpack(">B", 1)

    def s8(self) -> int:
        return self._unpack(">b", 1)

    def u16(self) -> int:
        return self._unpack(">H", 2)

    def s16(self) -> int:
        return self._unpack(">h", 2)

    def u16le(self) -> int:
        return self._unpack("<H", 2)

    def s16le(self) -> int:
        return self._unpack("<h", 2)

    def u24(self) -> int:
        b = self.bytes(3)
        return (b[0] << 16) | (b[1] << 8) | b[2]

    def s24(self) -> int:
        v = self.u24()
        return v - (1 << 24) if v & 0x800000 else v

    def u32(self) -> int:
        return self._unpack(">I", 4)

    def s32(self) -> int:
        return self._unpack(">i", 4)

    def u32le(self) -> int:
        return self._unpack("<I", 4)

    def s32le(self) -> int:
        return self._unpack("<i", 4)

    def f32(self) -> float:
        self.need(4)
        (v,) = struct.unpack_from(">f", self.data, self.pos)
        self.pos += 4
        return float(v)

    def f32le(self) -> float:
        self.need(4)
        (v,) = struct.unpack_from("<f", self.data, self.pos)
        self.pos += 4
        return float(v)


def require_length(payload: bytes, expected: int, *, model: str, f_port: int) -> None:
    """Exact-length check with the installer-facing message of the decoder contract."""
    if len(payload) != expected:
        raise PayloadLengthError(
            f"{model} expects {expected} bytes on port {f_port}, got {len(payload)}"
        )


def require_min_length(payload: bytes, minimum: int, *, model: str, f_port: int) -> None:
    if len(payload) < minimum:
        raise PayloadLengthError(
            f"{model} expects at least {minimum} bytes on port {f_port}, got {len(payload)}"
        )


def s16(value: int) -> int:
    """Two's complement of a 16-bit unsigned value."""
    return value - 0x10000 if value & 0x8000 else value
