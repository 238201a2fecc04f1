"""Elsys ERS CO2 indoor sensor (model id ``elsys/ers-co2``).

Source: Elsys ERS CO2 datasheet and "Generic payload" document; TTN Device Repository
``vendor/elsys/ers-co2-codec.yaml`` (codec ``elsys.js``). Framing: :mod:`._elsys`.
Measures temperature (0.1 °C), humidity (%), light (lx), PIR motion count over the
reporting interval, CO2 (ppm) and supply voltage (``vdd``, mV).
"""

from __future__ import annotations

from decoders.base import Field
from decoders.catalog import register
from decoders.quantities import Quantity
from decoders.vendors.elsys._elsys import ElsysDecoder

Q = Quantity


@register
class ERSCO2(ElsysDecoder):
    model_ids = ("elsys/ers-co2",)
    vendor = "Elsys"
    model_name = "ERS CO2"
    category = "environment"
    description = "Indoor temperature, humidity, light, motion and CO2"
    label = "ERS CO2"
    fields = (
        Field(key="temperature", quantity=Q.TEMPERATURE),
        Field(key="humidity", quantity=Q.RELATIVE_HUMIDITY),
        Field(key="light", quantity=Q.ILLUMINANCE),
        Field(key="motion", quantity=Q.MOTION),
        Field(key="co2", quantity=Q.CO2),
        Field(key="vdd", quantity=Q.BATTERY_VOLTAGE, scale=0.001),
        Field(key="externalTemperature", quantity=Q.TEMPERATURE, sensor="external"),
    )
