"""Dragino LHT65N temperature & humidity sensor (model id ``dragino/lht65n``).

Source: Dragino "LHT65N LoRaWAN Temperature & Humidity Sensor User Manual" (uplink
payload section) and the TTN Device Repository's ``vendor/dragino/lht65n-codec.yaml``,
whose examples are the same as the LHT65's. The port-2 frame is the LHT65 frame
(see :mod:`decoders.vendors.dragino.lht65`) plus Ext 2, a TMP117 probe
(``TempC_TMP117``, signed, 0.01 °C, bytes 7-8).

Not decoded natively: the datalog replies on port 3 (the vendor codec returns them as a
preformatted string in the local time zone of the codec's host, which is not data).
"""

from __future__ import annotations

from decoders.catalog import register
from decoders.vendors.dragino.lht65 import LHT65


@register
class LHT65N(LHT65):
    model_ids = ("dragino/lht65n",)
    model_name = "LHT65N"
    description = "Temperature & humidity (SHT31) with optional external probe (DS18B20/TMP117)"
    label = "LHT65N"
    tmp117 = True
