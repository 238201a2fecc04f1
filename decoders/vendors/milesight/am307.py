"""Milesight AM307 indoor ambience monitor (model id ``milesight-iot/am307``).

Source: Milesight AM300 Series User Guide, "Uplink Packet" table; TTN Device Repository
``vendor/milesight-iot/am307.js`` (the AM307/AM319 codec). Framing: :mod:`._tlv`.

Channels: battery 0x01 0x75 (%), temperature 0x03 0x67 (s16, 0.1 °C), humidity
0x04 0x68 (0.5 %RH), PIR 0x05 0x00 (1 = trigger), light level 0x06 0xCB (0-5),
CO2 0x07 0x7D (ppm), TVOC 0x08 0x7D (ppb), pressure 0x09 0x73 (0.1 hPa),
HCHO 0x0A 0x7D (0.01 mg/m³), PM2.5 0x0B 0x7D and PM10 0x0C 0x7D (µg/m³),
O3 0x0D 0x7D (0.01 ppm), buzzer 0x0E 0x01. HCHO and O3 (AM319 only) have no
canonical quantity yet and stay in the vendor dict only.
"""

from __future__ import annotations

from decoders.base import Field
from decoders.catalog import register
from decoders.quantities import Quantity
from decoders.vendors.milesight._tlv import Channel, MilesightTLV, flag, u8, u16
from decoders.vendors.milesight.em300_th import BATTERY, HUMIDITY, TEMPERATURE

Q = Quantity


@register
class AM307(MilesightTLV):
    model_ids = ("milesight-iot/am307",)
    vendor = "Milesight"
    model_name = "AM307"
    category = "environment"
    description = "Indoor ambience: temperature, humidity, CO2, TVOC, pressure, light, motion"
    label = "AM307"
    channels = (
        BATTERY,
        TEMPERATURE,
        HUMIDITY,
        Channel(id=0x05, type=0x00, read=flag("pir", "trigger", "idle")),
        Channel(id=0x06, type=0xCB, read=u8("light_level")),
        Channel(id=0x07, type=0x7D, read=u16("co2")),
        Channel(id=0x08, type=0x7D, read=u16("tvoc")),
        Channel(id=0x09, type=0x73, read=u16("pressure", 10)),
        Channel(id=0x0A, type=0x7D, read=u16("hcho", 100)),
        Channel(id=0x0B, type=0x7D, read=u16("pm2_5")),
        Channel(id=0x0C, type=0x7D, read=u16("pm10")),
        Channel(id=0x0D, type=0x7D, read=u16("o3", 100)),
        Channel(id=0x0E, type=0x01, read=flag("beep", "yes", "no")),
    )
    states = {"pir": {"trigger": 1.0, "idle": 0.0}}
    fields = (
        Field(key="temperature", quantity=Q.TEMPERATURE),
        Field(key="humidity", quantity=Q.RELATIVE_HUMIDITY),
        Field(key="co2", quantity=Q.CO2),
        Field(key="tvoc", quantity=Q.TVOC),
        Field(key="pressure", quantity=Q.ATMOSPHERIC_PRESSURE),
        Field(key="light_level", quantity=Q.LIGHT_LEVEL),
        Field(key="pir", quantity=Q.PRESENCE),
        Field(key="pm2_5", quantity=Q.PM2_5),
        Field(key="pm10", quantity=Q.PM10),
        Field(key="battery", quantity=Q.BATTERY),
    )
