"""Frames shared by the Nwave NCC405 and NPS405 codecs (startup, debug, battery)."""

from __future__ import annotations

from typing import Any

from decoders.errors import PayloadLengthError

RESET_CAUSES: dict[int, str] = {
    0: "rejoining_lorawan_network",
    1: "watchdog",
    2: "power_on",
    3: "user_request",
    6: "brownout",
    7: "other",
}


def need(payload: bytes, n: int, model: str, f_port: int) -> None:
    if len(payload) < n:
        raise PayloadLengthError(f"{model} expects {n} bytes on port {f_port}, got {len(payload)}")


def startup(payload: bytes) -> dict[str, Any]:
    """Port 3; an unlisted reset cause is left out, as the vendor's ``undefined`` is."""
    out: dict[str, Any] = {
        "type": "startup",
        "firmware_version": f"{payload[0]}.{payload[1]}.{payload[2]}",
    }
    cause = RESET_CAUSES.get(payload[3])
    if cause is not None:
        out["reset_cause"] = cause
    return out


def battery_mv(raw: int) -> int:
    return 2500 + raw * 4
