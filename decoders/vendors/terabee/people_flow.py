"""Terabee People Flow Counting L/XL (``terabee/people-flow-counting-l-xl``).

From the vendor codec's documented frame layout (TTN Device Repository
``vendor/terabee/people-flow-counting-l-xl.js`` and its codec examples):

* port 1, counting data: ``count_in`` u32 BE, ``count_out`` u32 BE, flags byte
  (bit 0 TPC_STOPPED, 1 TPC_STUCK, 2 MULTI_DEV_ISSUE, 3 WIFI_AP_ENABLED). The counts
  are running totals since the last counter reset -> people_in_total / people_out_total.
  As in the vendor codec the flags byte may be missing (flags ``{}``).
* ports 2-7, 100, 102: command responses ``cmd_id | value...`` or acknowledgements
  ``0xFF | cmd_id | status`` -> ``{"cmd": {name, id, success[, value]}}``.
* port 101: counting-area points: count, then 13-bit (x 7 bits, y 6 bits) packed points.

Stricter than the JavaScript: a short frame or a response without a parser is a
DecodeError instead of ``NaN``/``undefined``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from decoders.base import Decoder, Field
from decoders.catalog import register
from decoders.errors import DecodeError, PayloadLengthError, UnsupportedPortError
from decoders.quantities import Quantity

MODEL = "terabee/people-flow-counting-l-xl"
FLAGS = ("TPC_STOPPED", "TPC_STUCK", "MULTI_DEV_ISSUE", "WIFI_AP_ENABLED")


def _u16(b: bytes, what: str) -> int:
    if len(b) < 2:
        raise PayloadLengthError(f"Terabee {what} needs 2 bytes, got {len(b)}")
    return int.from_bytes(b[:2], "big")


def _counts(b: bytes) -> dict[str, Any]:
    if len(b) < 8:
        raise PayloadLengthError(f"Terabee counts need 8 bytes, got {len(b)}")
    return {"count_in": int.from_bytes(b[0:4], "big"), "count_out": int.from_bytes(b[4:8], "big")}


def _version(b: bytes) -> dict[str, Any]:
    if len(b) < 3:
        raise PayloadLengthError(f"Terabee software version needs 3 bytes, got {len(b)}")
    return {"software_version": f"{b[0]}.{b[1]}.{b[2]}"}


def _flag(key: str, on: str, off: str) -> Callable[[bytes], dict[str, Any]]:
    # the vendor codec compares the whole remaining array with 1 (JS ``[1] == 1``)
    return lambda b: {key: on if b == b"\x01" else off}


Parser = Callable[[bytes], dict[str, Any]] | None
#: (port, cmd id) -> (command name, value parser)
COMMANDS: dict[tuple[int, int], tuple[str, Parser]] = {
    (2, 1): ("CMD_CNT_RST", None),
    (2, 2): ("CMD_CNT_GET", _counts),
    (2, 130): ("CMD_CNT_SET", None),
    (3, 1): ("CMD_DEV_RBT", None),
    (3, 2): ("CMD_TPC_RST", None),
    (4, 1): ("CMD_GET_VER_PEOPLE_COUNTING", _version),
    (4, 2): ("CMD_GET_VER_WEB_GUI", _version),
    (4, 3): ("CMD_GET_VER_LORA_AGENT", _version),
    (4, 4): ("CMD_GET_VER_ACCESS_POINT", _version),
    (4, 5): ("CMD_GET_VER_UPDATER_WEB_GUI", _version),
    (4, 6): ("CMD_GET_VER_FAN_SERVICE", _version),
    (5, 1): ("CMD_GET_AP_STATE", _flag("state", "enabled", "disabled")),
    (5, 129): ("CMD_SET_AP_STATE", None),
    (6, 1): ("CMD_FORCE_REJOIN", None),
    (7, 1): ("CMD_FORCE_TIME_SYNC", None),
    (100, 1): ("CMD_GET_HEIGHT", lambda b: {"mounting_height": _u16(b, "mounting height")}),
    (100, 129): ("CMD_SET_HEIGHT", None),
    (100, 2): ("CMD_GET_REVERSE", _flag("direction", "reversed", "normal")),
    (100, 130): ("CMD_SET_REVERSE", None),
    (100, 3): ("CMD_GET_PUSH_PERIOD", lambda b: {"push_period_min": _u16(b, "push period")}),
    (100, 131): ("CMD_SET_PUSH_PERIOD", None),
    (102, 0): ("CMD_SET_AREA_PTS", None),
}
COMMAND_PORTS = {port for port, _ in COMMANDS}


def _area_points(payload: bytes) -> dict[str, Any]:
    if not payload:
        raise PayloadLengthError("Terabee area points: empty payload")
    n = payload[0]
    points = payload[1:]
    expected = -(-(n * 13) // 8)
    if len(points) != expected:
        raise PayloadLengthError(
            f"Terabee area points: {n} points need {expected} bytes, got {len(points)}"
        )
    bits = "".join(f"{b:08b}" for b in points)
    bits = bits[len(bits) % 13 :]
    out = [
        {"x": int(bits[13 * i : 13 * i + 7], 2), "y": int(bits[13 * i + 7 : 13 * (i + 1)], 2)}
        for i in range(len(bits) // 13)
    ]
    return {"nb_of_points": n, "points": out}


@register
class PeopleFlowCountingLXL(Decoder):
    model_ids = (MODEL,)
    vendor = "Terabee"
    model_name = "People Flow Counting L/XL"
    category = "tourism"
    ports = (1, 2, 3, 4, 5, 6, 7, 100, 101, 102)
    fields = (
        Field(key="count_in", quantity=Quantity.PEOPLE_IN_TOTAL),
        Field(key="count_out", quantity=Quantity.PEOPLE_OUT_TOTAL),
        Field(key="cmd.value.count_in", quantity=Quantity.PEOPLE_IN_TOTAL),
        Field(key="cmd.value.count_out", quantity=Quantity.PEOPLE_OUT_TOTAL),
    )

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if f_port == 1:
            if len(payload) < 8:
                raise PayloadLengthError(
                    f"Terabee people counter expects 9 bytes on port 1, got {len(payload)}"
                )
            flags_byte = payload[8] if len(payload) > 8 else 0
            return {
                **_counts(payload),
                "flags": {name: 1 for k, name in enumerate(FLAGS) if flags_byte & (1 << k)},
            }
        if f_port == 101:
            value = _area_points(payload)
            return {
                "cmd": {"name": "CMD_GET_AREA_PTS", "id": None, "success": True, "value": value}
            }
        if f_port not in COMMAND_PORTS:
            raise UnsupportedPortError(f"Terabee people counter: unknown port {f_port}")
        if not payload:
            raise PayloadLengthError(f"Terabee command response on port {f_port} is empty")
        ack = payload[0] == 0xFF
        if ack:
            if len(payload) < 2:
                raise PayloadLengthError("Terabee acknowledgement needs 2 bytes, got 1")
            cmd_id, success = payload[1], not (len(payload) > 2 and payload[2] == 0xFF)
        else:
            cmd_id, success = payload[0], True
        command = COMMANDS.get((f_port, cmd_id))
        if command is None:
            raise DecodeError(f"Terabee: unknown command {cmd_id} on port {f_port}")
        name, parse = command
        cmd: dict[str, Any] = {"name": name, "id": cmd_id, "success": success}
        if not ack:
            if parse is None:
                raise DecodeError(f"Terabee: {name} response carries no value the codec knows")
            cmd["value"] = parse(payload[1:])
        return {"cmd": cmd}
