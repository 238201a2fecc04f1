"""Nwave traffic sensors: vehicle counters and parking sensors."""

from decoders.vendors.nwave import ncc405, nps405  # noqa: F401
