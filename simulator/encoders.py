"""Payload encoders for the simulated models: the inverse of the decoders, written from
the same vendor documentation (Dragino LHT65 manual §2.4; Cayenne LPP spec).

Values are quantised to each format's resolution here, so the simulator knows the
exact value a decoder must produce.
"""

from __future__ import annotations

import struct


def q(value: float, step: float) -> float:
    """Round to the format's resolution (as the device does)."""
    return round(round(value / step) * step, 6)


def lht65(
    *, temperature: float, humidity: float, battery_v: float, probe: float | None = None
) -> bytes:
    """Dragino LHT65, port 2, 11 bytes. ``probe`` = DS18B20 temperature (Ext 1) or None (Ext 0)."""
    bat = int(round(battery_v * 1000)) & 0x3FFF | (3 << 14)  # battery status "good"
    t = int(round(temperature * 100))
    h = int(round(humidity * 10)) & 0x0FFF
    if probe is None:
        return struct.pack(">HhHBhH", bat, t, h, 0x00, 0x7FFF, 0x7FFF)
    return struct.pack(">HhHBhH", bat, t, h, 0x01, int(round(probe * 100)), 0x7FFF)


def lpp(*records: tuple[int, str, float]) -> bytes:
    """Cayenne LPP: records of (channel, type name, value)."""
    out = bytearray()
    for channel, kind, value in records:
        if kind == "temperature":
            out += struct.pack(">BBh", channel, 0x67, int(round(value * 10)))
        elif kind == "relative_humidity":
            out += struct.pack(">BBB", channel, 0x68, int(round(value * 2)))
        elif kind == "barometric_pressure":
            out += struct.pack(">BBh", channel, 0x73, int(round(value * 10)))
        elif kind == "luminosity":
            out += struct.pack(">BBH", channel, 0x65, int(round(value)))
        elif kind == "presence":
            out += struct.pack(">BBB", channel, 0x66, int(value))
        elif kind == "digital_in":
            out += struct.pack(">BBB", channel, 0x00, int(value))
        elif kind == "analog_in":
            out += struct.pack(">BBh", channel, 0x02, int(round(value * 100)))
        else:
            raise ValueError(f"no LPP encoder for {kind!r}")
    return bytes(out)
