"""Decoder errors (re-exported from the project's error tree, see ``lorawan_monitor.errors``)."""

from lorawan_monitor.errors import (
    CodecError,
    DecodeError,
    PayloadLengthError,
    ProtocolVersionError,
    UnknownModelError,
    UnsupportedPortError,
)

__all__ = [
    "CodecError",
    "DecodeError",
    "PayloadLengthError",
    "ProtocolVersionError",
    "UnknownModelError",
    "UnsupportedPortError",
]
