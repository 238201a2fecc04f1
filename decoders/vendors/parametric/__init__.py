"""Parametric radar people counters."""

from decoders.vendors.parametric import pcr2  # noqa: F401
