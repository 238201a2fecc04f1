"""Dragino LHT65 temperature & humidity sensor (model id ``dragino/lht65``).

Source: Dragino "LHT65 LoRaWAN Temperature & Humidity Sensor User Manual" §2.4
(uplink payload) and the vendor codec ``vendor/dragino/lht65.js`` in the TTN Device
Repository, whose output this decoder reproduces key for key.

Port 2, exactly 11 bytes, big endian::

    0-1   bits 15-14 battery status, bits 13-0 battery voltage in mV
          (Ext 9: the probe temperature, signed, 0.01 °C, and no voltage)
    2-3   internal SHT20 temperature, signed, 0.01 °C
    4-5   internal SHT20 humidity, 12 bits, 0.1 %RH (Ext 9: bits 15-14 battery status)
    6     bit 7 probe not connected, bit 6 poll-reply flag, bits 3-0 "Ext" (probe type)
    7-10  probe data, depending on Ext:
          1 DS18B20 temperature (0.01 °C) · 4 interrupt pin level/status ·
          5 illuminance (lx) · 6 ADC (mV) · 7 16-bit count · 8 32-bit count ·
          9 unix time of the measurement · 15 DS18B20 ROM id

0x7FFF in a temperature field means the sensor returned no data (327.67 °C in the
vendor dict): that becomes a warning, never a reading. The vendor codec returns
nothing for a frame with the poll-reply flag set; so do we, as a DecodeError.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from decoders._bits import Reader, require_length
from decoders.base import Decoder, Field, Normalized, Reading, normalize_table
from decoders.catalog import register
from decoders.errors import DecodeError, UnsupportedPortError
from decoders.quantities import Quantity

Q = Quantity
#: 0x7FFF / 100: the sensor answered "no data"
NO_TEMPERATURE = (327.67,)

EXT_NONE = 0x0
EXT_DS18B20 = 0x1
EXT_TMP117 = 0x2
EXT_INTERRUPT = 0x4
EXT_ILLUMINATION = 0x5
EXT_ADC = 0x6
EXT_COUNT16 = 0x7
EXT_COUNT32 = 0x8
EXT_TIMESTAMP = 0x9
EXT_ROM_ID = 0xF


#: bytes 0-6: word 0, the SHT temperature (signed), word 2, the flags byte
_HEAD = struct.Struct(">HhHB")
#: the 4 probe bytes (7-10), read from their start
_S16 = struct.Struct(">h")
_U16 = struct.Struct(">H")
_S32 = struct.Struct(">i")


def _centi(raw: int) -> float:
    """Signed 0.01 unit value, as the vendor's ``parseFloat((x/100).toFixed(2))``."""
    return round(raw / 100, 2)


def _hex_id(data: bytes) -> str:
    """The vendor's ROM-id string: two lowercase hex digits and a space per byte."""
    return "".join(f"{b:02x} " for b in data)


def decode_lht65_frame(payload: bytes, *, tmp117: bool) -> dict[str, Any]:
    """One 11-byte LHT65 / LHT65N frame -> the vendor codec's dict.

    ``tmp117`` enables Ext 2 (TMP117 probe), which only the LHT65N codec knows.
    """
    if len(payload) >= 11:  # one unpack for the whole frame (#19); Reader's checks are moot
        word0, sht_t, word2, flags = _HEAD.unpack_from(payload)
        probe = bytes(payload[7:11])
    else:  # too short: Reader raises the installer-facing PayloadLengthError
        r = Reader(payload)
        word0 = r.u16()
        sht_t = r.s16()
        word2 = r.u16()
        flags = r.u8()
        probe = r.bytes(4)
    ext = flags & 0x0F
    out: dict[str, Any] = {}
    if ext == EXT_TIMESTAMP:
        out["TempC_DS"] = _centi(word0 - 0x10000 if word0 & 0x8000 else word0)
        out["Bat_status"] = word2 >> 14
    else:
        out["BatV"] = (word0 & 0x3FFF) / 1000
        out["Bat_status"] = word0 >> 14
    if ext != EXT_ROM_ID:
        out["TempC_SHT"] = _centi(sht_t)
        out["Hum_SHT"] = round((word2 & 0x0FFF) / 10, 1)
    if flags & 0x80:
        out["No_connect"] = "Sensor no connection"
    if ext == EXT_NONE:
        out["Ext_sensor"] = "No external sensor"
    elif ext == EXT_DS18B20:
        out["Ext_sensor"] = "Temperature Sensor"
        out["TempC_DS"] = _centi(_S16.unpack_from(probe)[0])
    elif ext == EXT_TMP117 and tmp117:
        out["Ext_sensor"] = "Temperature Sensor"
        out["TempC_TMP117"] = _centi(_S16.unpack_from(probe)[0])
    elif ext == EXT_INTERRUPT:
        out["Work_mode"] = "Interrupt Sensor send"
        out["Exti_pin_level"] = "High" if probe[0] else "Low"
        out["Exti_status"] = "True" if probe[1] else "False"
    elif ext == EXT_ILLUMINATION:
        out["Work_mode"] = "Illumination Sensor"
        out["ILL_lx"] = _U16.unpack_from(probe)[0]
    elif ext == EXT_ADC:
        out["Work_mode"] = "ADC Sensor"
        out["ADC_V"] = _U16.unpack_from(probe)[0] / 1000
    elif ext == EXT_COUNT16:
        out["Work_mode"] = "Interrupt Sensor count"
        out["Exit_count"] = _U16.unpack_from(probe)[0]
    elif ext == EXT_COUNT32:
        out["Work_mode"] = "Interrupt Sensor count"
        out["Exit_count"] = _S32.unpack_from(probe)[
            0
        ]  # the vendor codec computes this as a signed 32-bit int
    elif ext == EXT_TIMESTAMP:
        out["Work_mode"] = "DS18B20 & timestamp"
        out["Systimestamp"] = _S32.unpack_from(probe)[0]
    elif ext == EXT_ROM_ID:
        out["Work_mode"] = "DS18B20ID"
        out["ID"] = _hex_id(payload[2:6] + probe)
    return out


LHT65_FIELDS = (
    Field(key="TempC_SHT", quantity=Q.TEMPERATURE, sensor="internal", nodata=NO_TEMPERATURE),
    Field(key="Hum_SHT", quantity=Q.RELATIVE_HUMIDITY, sensor="internal"),
    Field(key="TempC_DS", quantity=Q.TEMPERATURE, sensor="probe", nodata=NO_TEMPERATURE),
    Field(key="TempC_TMP117", quantity=Q.TEMPERATURE, sensor="probe", nodata=NO_TEMPERATURE),
    Field(key="BatV", quantity=Q.BATTERY_VOLTAGE),
    Field(key="ILL_lx", quantity=Q.ILLUMINANCE),
    Field(key="ADC_V", quantity=Q.ANALOG, sensor="adc"),
)


def normalize_lht65(decoded: Mapping[str, Any], fields: tuple[Field, ...]) -> Normalized:
    """The table, plus: "probe not connected" is a warning, and in Ext 9 mode the
    device's own ``Systimestamp`` becomes the readings' time."""
    n = normalize_table(decoded, fields)
    stamp = decoded.get("Systimestamp")
    if stamp is None and "No_connect" not in decoded:
        return n  # the common frame: the table says it all
    warnings = list(n.warnings)
    readings = n.readings
    if "No_connect" in decoded:
        warnings.append(f"No_connect: {decoded['No_connect']}")
    if isinstance(stamp, int) and not isinstance(stamp, bool):
        if stamp > 0:
            when = datetime.fromtimestamp(stamp, tz=UTC)
            readings = tuple(
                Reading(quantity=x.quantity, value=x.value, sensor=x.sensor, time=when)
                for x in readings
            )
        else:
            warnings.append(f"Systimestamp: device clock not set ({stamp})")
    return Normalized(readings=readings, warnings=tuple(warnings))


@register
class LHT65(Decoder):
    model_ids = ("dragino/lht65",)
    vendor = "Dragino"
    model_name = "LHT65"
    category = "environment"
    ports = (2,)
    fields = LHT65_FIELDS
    description = "Temperature & humidity (SHT20) with optional external probe"
    #: name used in installer messages
    label = "LHT65"
    tmp117 = False

    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        if f_port != 2:
            raise UnsupportedPortError(f"{self.label}: unknown port {f_port} (sends on port 2)")
        require_length(payload, 11, model=self.label, f_port=f_port)
        if payload[6] & 0x40:
            raise DecodeError(
                f"{self.label}: poll-reply frame (byte 6 bit 6 set); the vendor codec "
                "returns no data for it"
            )
        return decode_lht65_frame(payload, tmp117=self.tmp117)

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        return normalize_lht65(decoded, self.fields)
