"""Terabee people counters."""

from decoders.vendors.terabee import people_flow  # noqa: F401
