"""Milesight EM300-TH temperature & humidity sensor (model id ``milesight-iot/em300-th``).

Source: Milesight EM300-TH User Guide, "Uplink Packet" table; TTN Device Repository
``vendor/milesight-iot/em300-th.js`` (battery 0x01 0x75 %, temperature 0x03 0x67
signed 0.1 °C, humidity 0x04 0x68 0.5 %RH). Framing: :mod:`._tlv`.
"""

from __future__ import annotations

from decoders.base import Field
from decoders.catalog import register
from decoders.quantities import Quantity
from decoders.vendors.milesight._tlv import Channel, MilesightTLV, s16, u8

Q = Quantity

BATTERY = Channel(id=0x01, type=0x75, read=u8("battery"))
TEMPERATURE = Channel(id=0x03, type=0x67, read=s16("temperature", 10))
HUMIDITY = Channel(id=0x04, type=0x68, read=u8("humidity", 2))


@register
class EM300TH(MilesightTLV):
    model_ids = ("milesight-iot/em300-th",)
    vendor = "Milesight"
    model_name = "EM300-TH"
    category = "environment"
    description = "Temperature & humidity"
    label = "EM300-TH"
    channels = (BATTERY, TEMPERATURE, HUMIDITY)
    fields = (
        Field(key="temperature", quantity=Q.TEMPERATURE),
        Field(key="humidity", quantity=Q.RELATIVE_HUMIDITY),
        Field(key="battery", quantity=Q.BATTERY),
    )
