"""SenseCAP S210x LoRaWAN sensors (S2101 air T/RH, S2102 light, S2103 CO2/T/RH,
S2104 soil moisture/T, S2105 soil moisture/T/EC): one codec for the family.

Source: SenseCAP S210X LoRaWAN Sensor user guide ("Payload" / measurement ids) and the
TTN Device Repository codec ``vendor/sensecap/sensecap210x-common-decoder.js``
(``sensecap210x-codec``), whose output this decoder reproduces:
``{valid, err, payload, messages: [...]}``. Every model here names that codec in its
Device Repository definition (checked: the S2102 and S2104 files at commit 7776a48, S2103
at 811c530, S2101 and S2105; an older revision of the S2102 file named the generic
``sensecap-codec``).

Payload: n frames of 7 bytes and a 2-byte CRC. Frame: channel (1), data id (u16 LE),
value (4 bytes LE). Data ids above 4096 are measurements (signed, 1/1000 unit);
0 = board version, 2/3 = sensor EUI low/high, 7 = battery % and interval (minutes),
0x120 = sensor removed; 1, 4, 5, 6 are accepted and not reported (as in the codec);
anything else is an ``unknown_message``. The vendor codec does not check the CRC and
neither do we. Its "length check fail" (``valid: false, err: -2``) is a
PayloadLengthError here, as the decoder contract asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from decoders._bits import Reader
from decoders.base import Decoder, Normalized, Reading, as_number
from decoders.catalog import register
from decoders.errors import PayloadLengthError, UnsupportedPortError
from decoders.quantities import Quantity

Q = Quantity
ID_VERSION, ID_SENSOR_VERSION, ID_EUI_LOW, ID_EUI_HIGH, ID_BATTERY_INTERVAL = 0, 1, 2, 3, 7
ID_REMOVED = 0x120
SILENT_IDS = frozenset({ID_SENSOR_VERSION, 4, 5, 6})

#: SenseCAP measurement id -> (quantity, scale to our unit, sensor label)
MEASUREMENTS: dict[int, tuple[Quantity, float, str]] = {
    4097: (Q.TEMPERATURE, 1, ""),  # air temperature, °C
    4098: (Q.RELATIVE_HUMIDITY, 1, ""),  # air humidity, %RH
    4099: (Q.ILLUMINANCE, 1, ""),  # light intensity, lux
    4100: (Q.CO2, 1, ""),  # CO2, ppm
    4101: (Q.ATMOSPHERIC_PRESSURE, 0.01, ""),  # barometric pressure, Pa
    4102: (Q.TEMPERATURE, 1, "soil"),  # soil temperature, °C
    4103: (Q.SOIL_MOISTURE, 1, ""),  # soil moisture, %
    4108: (Q.SOIL_CONDUCTIVITY, 1000, ""),  # soil EC, dS/m -> µS/cm
}


def _frame_value_hex(raw: bytes) -> str:
    return raw.hex().upper()


def decode_s210x(payload: bytes, label: str) -> dict[str, Any]:
    if len(payload) < 9 or (len(payload) - 2) % 7:
        raise PayloadLengthError(
            f"{label} expects 7-byte frames plus a 2-byte CRC (9, 16, 23, ... bytes), "
            f"got {len(payload)}"
        )
    messages: list[dict[str, Any]] = []
    eui_low = eui_high = None
    r = Reader(payload[:-2], what=f"{label} payload")
    while r.remaining() > 0:
        r.u8()  # channel: the vendor codec reads and ignores it
        data_id = r.u16le()
        raw = r.bytes(4)
        if data_id > 4096:
            value = int.from_bytes(raw, "little", signed=True)
            messages.append(
                {
                    "type": "report_telemetry",
                    "measurementId": data_id,
                    "measurementValue": value / 1000,
                }
            )
        elif data_id == ID_VERSION:
            messages.append(
                {
                    "type": "upload_version",
                    "hardwareVersion": f"{raw[3]}.{raw[2]}",
                    "softwareVersion": f"{raw[1]}.{raw[0]}",
                }
            )
        elif data_id == ID_EUI_LOW:
            eui_low = raw[::-1].hex().upper()
        elif data_id == ID_EUI_HIGH:
            eui_high = raw[::-1].hex().upper()
        elif data_id == ID_BATTERY_INTERVAL:
            messages.append(
                {"type": "upload_battery", "battery": int.from_bytes(raw[0:2], "little")}
            )
            messages.append(
                {"type": "upload_interval", "interval": int.from_bytes(raw[2:4], "little") * 60}
            )
        elif data_id == ID_REMOVED:
            messages.append({"type": "report_remove_sensor", "channel": 1})
        elif data_id not in SILENT_IDS:
            messages.append(
                {"type": "unknown_message", "dataID": data_id, "dataValue": _frame_value_hex(raw)}
            )
    if eui_high is not None and eui_low is not None:
        messages.insert(
            0, {"type": "upload_sensor_id", "channel": 1, "sensorId": eui_high + eui_low}
        )
    return {"valid": True, "err": 0, "payload": payload.hex().upper(), "messages": messages}


def normalize_s210x(decoded: Mapping[str, Any]) -> Normalized:
    readings: list[Reading] = []
    warnings: list[str] = []
    if decoded.get("valid") is False:
        warnings.append(f"payload marked invalid by the codec (err {decoded.get('err')!r})")
    messages = decoded.get("messages")
    for m in messages if isinstance(messages, list) else []:
        if not isinstance(m, Mapping):
            continue
        kind = m.get("type")
        if kind == "report_telemetry":
            mid = m.get("measurementId")
            value = as_number(m.get("measurementValue"))
            row = MEASUREMENTS.get(mid) if isinstance(mid, int) else None
            if row is None:
                warnings.append(f"measurementId {mid!r}: no canonical quantity")
            elif value is None:
                warnings.append(f"measurementId {mid}: not a number")
            else:
                quantity, scale, sensor = row
                readings.append(Reading(quantity=quantity, value=value * scale, sensor=sensor))
        elif kind == "upload_battery":
            value = as_number(m.get("battery"))
            if value is not None:
                readings.append(Reading(quantity=Q.BATTERY, value=value))
        elif kind == "report_remove_sensor":
            warnings.append("sensor removed from the node (report_remove_sensor)")
        elif kind == "unknown_message":
            warnings.append(f"unknown_message: data id {m.get('dataID')!r}")
    return Normalized(readings=tuple(readings), warnings=tuple(warnings))


class _S210x(Decoder):
    vendor = "SenseCAP"
    category = "environment"
    ports = (2,)

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if not 1 <= f_port <= 223:
            raise UnsupportedPortError(f"{self.model_name}: unknown port {f_port}")
        return decode_s210x(payload, self.model_name)

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        return normalize_s210x(decoded)


@register
class S2101(_S210x):
    model_ids = ("sensecap/sensecaps2101-temp-humid",)
    model_name = "SenseCAP S2101"
    description = "Air temperature & humidity"


@register
class S2102(_S210x):
    model_ids = ("sensecap/sensecaps2102-light",)
    model_name = "SenseCAP S2102"
    description = "Light intensity"


@register
class S2103(_S210x):
    model_ids = ("sensecap/sensecaps2103-co2-temp-humid",)
    model_name = "SenseCAP S2103"
    description = "CO2, air temperature & humidity"


@register
class S2104(_S210x):
    model_ids = ("sensecap/sensecaps2104-soil-moisture-temp",)
    model_name = "SenseCAP S2104"
    description = "Soil moisture & temperature"


@register
class S2105(_S210x):
    model_ids = ("sensecap/sensecaps2105-soll-moisture-temp-ec",)
    model_name = "SenseCAP S2105"
    description = "Soil moisture, temperature & EC"
