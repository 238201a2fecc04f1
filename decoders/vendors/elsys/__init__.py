"""Elsys decoders (TTN Device Repository vendor ``elsys``)."""

from decoders.vendors.elsys import ers_co2  # noqa: F401
