"""The project's exception tree, in one leaf module that imports nothing of ours.

Every package may import it (``decoders`` included, which otherwise depends on
nothing of ours). Foreign exceptions are translated at the boundary with
``raise ... from exc``::

    LoraMonitorError
    ├── ConfigError                  bad setting or devices file; startup only -> exit non-zero
    ├── UsageError                   bad command-line arguments (exit 2, no "configuration")
    ├── EnvelopeError                malformed JSON / protobuf, missing field, topic mismatch
    │   ├── ImplausibleTimeError     uplink time before the LoRaWAN era or in the future
    │   ├── OutOfRangeError          an integer outside its field's range (f_cnt 32-bit ...)
    │   └── TooLargeError            message / decoded object too large or too deep
    ├── UnknownDeviceError           device not known where it must be (registry, API)
    ├── DecodeError                  the payload could not be decoded; message is for installers
    │   ├── UnsupportedPortError     the model sends nothing on this f_port
    │   ├── PayloadLengthError       too short / wrong length
    │   ├── ProtocolVersionError     a version / header byte does not match
    │   ├── UnknownModelError        no decoder for this model id
    │   └── CodecError               an external (JavaScript) codec threw, timed out or returned junk
    └── SinkError                    writing or querying a store failed
        ├── SinkUnavailableError     network, timeout, 429/5xx -> retry with backoff
        ├── SinkRejectedError        400/422 (bad data) -> drop the batch, count, never retry
        └── SinkAuthError            401/403 -> unhealthy, surfaced loudly

Every message a broker delivers ends as exactly one of *stored*, *ignored* or
*rejected*; the rejection reason is ``type(exc).reason`` (a short snake_case word
used as the metrics label) and ``str(exc)`` is the human explanation.
"""

from __future__ import annotations


class LoraMonitorError(Exception):
    """Root of every error this project raises on purpose."""

    reason = "error"


class ConfigError(LoraMonitorError):
    reason = "config"


class UsageError(LoraMonitorError):
    """The command line asks for something impossible (e.g. ``--to`` before ``--from``)."""

    reason = "usage"


class EnvelopeError(LoraMonitorError):
    reason = "malformed"


class ImplausibleTimeError(EnvelopeError):
    """No plausible uplink time: before the LoRaWAN era or too far in the future (#11)."""

    reason = "implausible_time"


class OutOfRangeError(EnvelopeError):
    """An integer outside its field's range (f_cnt is 32-bit, f_port 0..255, ...)."""

    reason = "out_of_range"


class TooLargeError(EnvelopeError):
    """A message, or a decoded object in it, too large or nested too deep."""

    reason = "too_large"


class UnknownDeviceError(LoraMonitorError):
    reason = "unknown_device"


class DecodeError(LoraMonitorError):
    reason = "decode_error"


class UnsupportedPortError(DecodeError):
    reason = "unsupported_port"


class PayloadLengthError(DecodeError):
    reason = "payload_length"


class ProtocolVersionError(DecodeError):
    reason = "protocol_version"


class UnknownModelError(DecodeError):
    reason = "unknown_model"


class CodecError(DecodeError):
    reason = "codec_error"


class SinkError(LoraMonitorError):
    reason = "sink_error"


class SinkUnavailableError(SinkError):
    reason = "sink_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SinkRejectedError(SinkError):
    reason = "sink_rejected"


class SinkAuthError(SinkError):
    reason = "sink_auth"
