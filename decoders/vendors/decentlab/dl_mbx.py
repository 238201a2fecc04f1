"""Decentlab DL-MBX ultrasonic distance / level sensor (model id ``decentlab/dl-mbx``).

Source: Decentlab DL-MBX data sheet ("Payload structure"); TTN Device Repository
``vendor/decentlab/dl-mbx.js`` and ``dl-mbx-codec.yaml``. Framing: :mod:`._protocol_v2`.

Group 0 (2 words): distance (mm), number of valid samples; group 1: battery (mV).
Distance is published as ``distance`` in metres (the distance from the sensor to the
surface; turning it into a water level needs the mounting height, which belongs to the
installation, not the decoder). A distance with zero valid samples is no data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from decoders.base import Field, Normalized, lookup, normalize_table
from decoders.catalog import register
from decoders.quantities import Quantity
from decoders.vendors.decentlab._protocol_v2 import BATTERY, DecentlabV2, Group, Value, plain

Q = Quantity


@register
class DLMBX(DecentlabV2):
    model_ids = ("decentlab/dl-mbx",)
    vendor = "Decentlab"
    model_name = "DL-MBX"
    category = "environment"
    description = "Ultrasonic distance / water level"
    label = "DL-MBX"
    groups = (
        Group(
            length=2,
            values=(
                Value(name="distance", display="Distance", convert=plain(0), unit="mm"),
                Value(
                    name="number_of_valid_samples",
                    display="Number of valid samples",
                    convert=plain(1),
                ),
            ),
        ),
        BATTERY,
    )
    fields = (
        Field(key="distance.value", quantity=Q.DISTANCE, scale=0.001),
        Field(key="battery_voltage.value", quantity=Q.BATTERY_VOLTAGE),
    )

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        if lookup(decoded, "number_of_valid_samples.value") == 0:
            rest = tuple(f for f in self.fields if f.key != "distance.value")
            n = normalize_table(decoded, rest)
            return Normalized(
                readings=n.readings,
                warnings=(*n.warnings, "distance: no data (0 valid samples)"),
            )
        return normalize_table(decoded, self.fields)
