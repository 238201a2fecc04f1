"""Parametric PCR2 radar people counters: ``parametric/pcr2``, ``pcr2-id``, ``pcr2-od``, ``pcr2-ods``.

All four ids use the same codec (TTN Device Repository ``vendor/parametric/pcr2-codec.yaml``
-> ``pcr2.js``, formerly ``pcr2-decoder.js``; ``pcr2`` is the id of older repository versions). Frames:

* port 14, application payload
  - ``0A ..`` Elsys-style TLV: 0x01 CPU temperature (s16 / 10, floored), 0x0A LTR (u16),
    0x16 RTL (u16)
  - ``BE 01 03`` extended V3, 16 bytes: LTR, RTL, LTR_SUM, RTL_SUM (u16), SBX_BATT (u8,
    gauge), SBX_PV (u16, mW), TEMP (s16 / 10, floored); DIFF = |LTR_SUM - RTL_SUM|
  - ``BE 01 04`` extended V4, 17 bytes: as V3 but SBX_BATT is u16 (mV)
  - ``00 66`` Cayenne LPP mode: the vendor codec returns ``{}``; we refuse it with a hint
* port 190, configuration: V2 (14 bytes, no header), V3 (20), V4 (31), V5 (34), V6 (35).
  Key names follow the vendor's codec per version: V2-V4 ``FirmwareVersion`` /
  ``OperatingMode``, V5 ``Firmware`` / ``OperationMode``. V6 is not in the current
  ``pcr2.js`` (which returns ``{}`` for 35 bytes); we decode it as V5 plus
  ``RadarChannel``, from the layout of the earlier ``pcr2-decoder.js``.

Normalization: LTR/RTL (counts since the previous uplink) -> people_in/people_out,
LTR_SUM/RTL_SUM (since power-up) -> people_in_total/people_out_total, TEMP ->
temperature (sensor ``cpu``), SBX_BATT -> battery (V3 gauge, <= 100) or
battery_voltage (V4, mV); 0 means "no SBX solar charger" and gives no reading.

Stricter than the JavaScript (which returns ``{error: ...}`` or reads past the end):
every malformed frame is a DecodeError.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from decoders.base import Decoder, Field, Normalized, Reading, normalize_table
from decoders.catalog import register
from decoders.errors import DecodeError, PayloadLengthError, UnsupportedPortError
from decoders.quantities import Quantity

Q = Quantity


def _u16(b: bytes, i: int) -> int:
    return (b[i] << 8) | b[i + 1]


def _temp(b: bytes, i: int) -> int:
    return math.floor(int.from_bytes(b[i : i + 2], "big", signed=True) / 10)


def _version(b: bytes, i: int) -> str:
    return f"{b[i]}.{b[i + 1]}.{b[i + 2]}"


def _extended(b: bytes, version: int) -> dict[str, Any]:
    size = 16 if version == 3 else 17
    if len(b) != size:
        raise PayloadLengthError(
            f"PCR2 expects {size} bytes on port 14 (extended V{version}), got {len(b)}"
        )
    out: dict[str, Any] = {
        "LTR": _u16(b, 3),
        "RTL": _u16(b, 5),
        "LTR_SUM": _u16(b, 7),
        "RTL_SUM": _u16(b, 9),
    }
    if version == 3:
        out["SBX_BATT"], out["SBX_PV"], t = b[11], _u16(b, 12), 14
    else:
        out["SBX_BATT"], out["SBX_PV"], t = _u16(b, 11), _u16(b, 13), 15
    out["DIFF"] = abs(out["LTR_SUM"] - out["RTL_SUM"])
    out["TEMP"] = _temp(b, t)
    return out


def _tlv(b: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    i = 0
    keys = {0x0A: "LTR", 0x16: "RTL"}
    while i < len(b):
        kind = b[i]
        if kind not in (0x01, 0x0A, 0x16):
            raise DecodeError(f"PCR2: unknown field type 0x{kind:02X} at offset {i}")
        if i + 3 > len(b):
            raise PayloadLengthError(
                f"PCR2 field 0x{kind:02X} at offset {i} needs 2 bytes, have {len(b) - i - 1}"
            )
        if kind == 0x01:
            out["TEMP"] = _temp(b, i + 1)
        else:
            out[keys[kind]] = _u16(b, i + 1)
        i += 3
    return out


def _config(b: bytes) -> dict[str, Any]:
    n = len(b)
    if n == 14:
        return {
            "DeviceType": b[0],
            "FirmwareVersion": _version(b, 1),
            "OperatingMode": b[4],
            "PayloadType": b[5],
            "UplinkType": b[6],
            "UplinkInterval": _u16(b, 7),
            "LinkCheckInterval": _u16(b, 9),
            "HoldoffTime": _u16(b, 11),
            "RadarSensitivity": b[13],
        }
    versions = {20: 3, 31: 4, 34: 5, 35: 6}
    if n not in versions:
        raise PayloadLengthError(
            f"PCR2 expects 14, 20, 31, 34 or 35 bytes on port 190 (configuration), got {n}"
        )
    v = versions[n]
    if b[:3] != bytes((0xBE, 0x01, v)):
        raise DecodeError(f"PCR2 configuration payload V{v} should start with BE 01 0{v}")
    out: dict[str, Any] = {
        "DeviceType": b[3],
        # the vendor codec names these FirmwareVersion / OperatingMode up to V4 and
        # Firmware / OperationMode from V5 on (pcr2.js, decode_v2..v5_config_payload)
        ("FirmwareVersion" if v <= 4 else "Firmware"): _version(b, 4),
        ("OperatingMode" if v <= 4 else "OperationMode"): b[7],
        "PayloadType": b[8],
        "DeviceClass": b[9],
        "UplinkType": b[10],
        "UplinkInterval": _u16(b, 11),
        "LinkCheckInterval": _u16(b, 13),
        "CapacityLimit": _u16(b, 15),
        "HoldoffTime": _u16(b, 17),
    }
    if v == 3:
        out["RadarSensitivity"] = b[19]
    elif v == 4:
        out.update(
            InactivityTimeout=_u16(b, 19),
            MountingDirection=b[21],
            MountingTilt=b[22],
            DetectionAngle=b[23],
            MinDist=_u16(b, 24),
            MaxDist=_u16(b, 26),
            MinSpeed=b[28],
            MaxSpeed=b[29],
            RadarSensitivity=b[30],
        )
    else:
        out.update(
            InactivityTimeout=_u16(b, 19),
            RadarEnabled=b[21],
            BeamAngle=b[22],
            MinDist=_u16(b, 23),
            MaxDist=_u16(b, 25),
            MinSpeed=b[27],
            MaxSpeed=b[28],
            RadarAutotune=b[29],
            RadarSensitivity=b[30],
            SBXVersion=_version(b, 31),
        )
        if v == 6:
            out["RadarChannel"] = b[34]
    return out


@register
class PCR2(Decoder):
    model_ids = (
        "parametric/pcr2",
        "parametric/pcr2-id",
        "parametric/pcr2-od",
        "parametric/pcr2-ods",
    )
    vendor = "Parametric"
    model_name = "PCR2 radar people counter (indoor / outdoor / outdoor solar)"
    category = "tourism"
    ports = (14, 190)
    fields = (
        Field(key="LTR", quantity=Q.PEOPLE_IN),
        Field(key="RTL", quantity=Q.PEOPLE_OUT),
        Field(key="LTR_SUM", quantity=Q.PEOPLE_IN_TOTAL),
        Field(key="RTL_SUM", quantity=Q.PEOPLE_OUT_TOTAL),
        Field(key="TEMP", quantity=Q.TEMPERATURE, sensor="cpu"),
    )

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        b = payload
        if f_port == 190:
            return _config(b)
        if f_port != 14:
            raise UnsupportedPortError(
                f"PCR2: unknown port {f_port} (application data on 14, configuration on 190)"
            )
        if not b:
            raise PayloadLengthError("PCR2 expects at least 3 bytes on port 14, got 0")
        if b[0] == 0x0A:
            return _tlv(b)
        if b[:2] == b"\x00\x66":
            raise DecodeError(
                "PCR2 sends Cayenne LPP in this mode, which its codec does not decode: "
                "switch the device to the extended payload or use model generic/cayenne-lpp"
            )
        if b[:3] in (b"\xbe\x01\x03", b"\xbe\x01\x04"):
            return _extended(b, b[2])
        if len(b) < 3:
            raise PayloadLengthError(f"PCR2 expects at least 3 bytes on port 14, got {len(b)}")
        raise DecodeError(f"PCR2: no decoder for application payload starting {b[:3].hex(' ')}")

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        n = normalize_table(decoded, self.fields)
        readings, warnings = list(n.readings), list(n.warnings)
        batt = decoded.get("SBX_BATT")
        if isinstance(batt, int | float) and not isinstance(batt, bool) and batt > 0:
            if batt <= 100:
                readings.append(Reading(quantity=Q.BATTERY, value=float(batt), sensor="sbx"))
            else:
                readings.append(
                    Reading(quantity=Q.BATTERY_VOLTAGE, value=batt / 1000, sensor="sbx")
                )
        return Normalized(readings=tuple(readings), warnings=tuple(warnings))
