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


class CodecUnavailableError(CodecError):
    """The model's codec cannot run at all: it failed to compile or load, or the Device
    Repository could not resolve it. Devices of that model get decode status
    ``codec_error`` (the message says why) while every other codec keeps working."""


__all__ += ["CodecUnavailableError"]
