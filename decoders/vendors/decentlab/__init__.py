"""Decentlab decoders (TTN Device Repository vendor ``decentlab``), protocol v2."""

from decoders.vendors.decentlab import dl_atm41, dl_mbx  # noqa: F401
