"""Milesight decoders (TTN Device Repository vendor ``milesight-iot``)."""

from decoders.vendors.milesight import am307, em300_th, vs133  # noqa: F401
