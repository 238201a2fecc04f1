"""Dragino decoders (TTN Device Repository vendor ``dragino``)."""

from decoders.vendors.dragino import lht65, lht65n, lse01  # noqa: F401
