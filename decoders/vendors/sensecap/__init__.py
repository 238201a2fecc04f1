"""SenseCAP decoders (TTN Device Repository vendor ``sensecap``)."""

from decoders.vendors.sensecap import s210x  # noqa: F401
