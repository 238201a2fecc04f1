"""Bosch traffic sensors."""

from decoders.vendors.bosch import tps110  # noqa: F401
