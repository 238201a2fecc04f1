"""The decoder contract: two pure steps.

1. ``decode(payload, f_port, variables) -> dict`` returns exactly what the vendor's own
   codec (TTN Device Repository ``decodeUplink().data``) returns for the same bytes:
   same keys, same values. Bad bytes raise one ``DecodeError`` subclass with a message
   an installer understands.
2. ``normalize(decoded) -> Normalized`` maps the vendor dict to canonical readings
   (``decoders.quantities``). Because it takes the vendor dict, it also serves payloads
   the network server decoded itself (TTS ``decoded_payload``, ChirpStack ``object``).

Departure from ARCHITECTURE.md: ``normalize`` returns ``Normalized`` (readings *and*
warnings) rather than a bare list, because "no data" sentinels must become warnings.

Most models need no code for step 2: they declare ``fields``, a table of
:class:`Field` rows (vendor key -> quantity, scale, sensor label, no-data values).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from decoders.quantities import CATALOGUE, Quantity


@dataclass(frozen=True, kw_only=True, slots=True)
class Reading:
    """One canonical value: ``quantity`` in its catalogue unit."""

    quantity: Quantity
    value: float
    sensor: str = ""
    #: the device's own measurement time, when the payload carries one (else the uplink's time)
    time: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Normalized:
    readings: tuple[Reading, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class DecodeResult:
    """What :func:`decoders.decode` returns: the vendor dict, readings and warnings."""

    model_id: str
    decoded: dict[str, Any]
    readings: tuple[Reading, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Field:
    """One row of a normalization table.

    ``key`` is a key of the vendor dict; a dotted path (``"a.b"``) reaches into nested
    dicts. ``value = raw * scale + offset``. A raw value in ``nodata`` (or a string
    such as ``"NULL"``) gives a warning instead of a reading. ``optional`` rows are
    skipped silently when the key is absent (most vendor dicts vary by port/mode).
    """

    key: str
    quantity: Quantity
    sensor: str = ""
    scale: float = 1.0
    offset: float = 0.0
    nodata: tuple[Any, ...] = ()
    optional: bool = True


def lookup(decoded: Mapping[str, Any], path: str) -> Any:
    """``decoded["a"]["b"]`` for ``"a.b"``; ``None`` when any step is missing."""
    cur: Any = decoded
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def as_number(raw: Any) -> float | None:
    """A vendor value as float, or None if it is not numeric (bool counts as 0/1)."""
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            return None
    return None


_new = object.__new__
#: the slot descriptors of Reading: their ``__set__`` writes past the frozen ``__setattr__``
_SLOTS: dict[str, Any] = dict(vars(Reading))
_set_quantity = _SLOTS["quantity"].__set__
_set_value = _SLOTS["value"].__set__
_set_sensor = _SLOTS["sensor"].__set__
_set_time = _SLOTS["time"].__set__


def make_reading(quantity: Quantity, value: float, sensor: str = "") -> Reading:
    """``Reading(quantity=..., value=..., sensor=...)`` without the frozen dataclass's
    ``__init__`` (one ``object.__setattr__`` per field): the same object, about half the
    cost, for the per-uplink path (#19). ``Reading`` has no ``__post_init__`` to skip."""
    r: Reading = _new(Reading)
    _set_quantity(r, quantity)
    _set_value(r, value)
    _set_sensor(r, sensor)
    _set_time(r, None)
    return r


def normalize_table(decoded: Mapping[str, Any], fields: Sequence[Field]) -> Normalized:
    """Apply a normalization table to a vendor dict."""
    readings: list[Reading] = []
    warnings: list[str] | None = None
    get = decoded.get
    isfinite = math.isfinite
    for f in fields:
        key = f.key
        raw = get(key) if "." not in key else lookup(decoded, key)
        if raw is None:
            if not f.optional:
                warnings = warnings or []
                warnings.append(f"{key}: missing")
            continue
        t = type(raw)
        if t is float or t is int:
            if f.nodata and raw in f.nodata:
                warnings = warnings or []
                warnings.append(f"{key}: no data ({raw!r})")
                continue
            num: float = float(raw)
        else:
            if f.nodata and not isinstance(raw, dict | list) and raw in f.nodata:
                warnings = warnings or []
                warnings.append(f"{key}: no data ({raw!r})")
                continue
            maybe = as_number(raw)
            if maybe is None:
                warnings = warnings or []
                warnings.append(f"{key}: not a number ({raw!r})")
                continue
            num = maybe
        scale = f.scale
        offset = f.offset
        value = num * scale + offset if (scale != 1.0 or offset) else num
        if not isfinite(value):
            warnings = warnings or []
            warnings.append(f"{key}: not a finite number")
            continue
        readings.append(make_reading(f.quantity, value, f.sensor))
    return Normalized(readings=tuple(readings), warnings=tuple(warnings) if warnings else ())


class Decoder(ABC):
    """Base class of native decoders. Subclasses are registered with ``@register``.

    Class attributes:
      ``model_ids``  TTN Device Repository ids (``brand/model``) this decoder serves
      ``vendor``, ``model_name``  human names for listings
      ``category``   default category (``environment`` / ``tourism`` / ``traffic``)
      ``fields``     the normalization table (override ``normalize`` only if a table can't say it)
      ``ports``      the f_ports the device uses (documentation and the simulator)
      ``takes_recv_time``  the decoder reads the network server's receive time (the
                     JavaScript codecs: TS013 ``recvTime``); :meth:`decode_received` gets it
    """

    model_ids: ClassVar[tuple[str, ...]]
    vendor: ClassVar[str] = ""
    model_name: ClassVar[str] = ""
    category: ClassVar[str] = "environment"
    fields: ClassVar[tuple[Field, ...]] = ()
    ports: ClassVar[tuple[int, ...]] = ()
    description: ClassVar[str] = ""
    takes_recv_time: ClassVar[bool] = False

    @abstractmethod
    def decode(
        self, payload: bytes, f_port: int, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Bytes -> the vendor codec's dict. Raises DecodeError subclasses only."""

    def decode_received(
        self,
        payload: bytes,
        f_port: int,
        variables: Mapping[str, Any] | None = None,
        *,
        recv_time: datetime,
    ) -> dict[str, Any]:
        """:meth:`decode` with the network server's receive time, for decoders that
        declare ``takes_recv_time``; the others decode as :meth:`decode` does."""
        return self.decode(payload, f_port, variables)

    def normalize(self, decoded: Mapping[str, Any]) -> Normalized:
        """Vendor dict -> canonical readings (+ warnings)."""
        return normalize_table(decoded, self.fields)


@dataclass(frozen=True, kw_only=True)
class DecoderInfo:
    model_id: str
    vendor: str
    model_name: str
    category: str
    ports: tuple[int, ...]
    quantities: tuple[str, ...]
    kind: str = "native"  # native | javascript
    description: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)


# Re-exported for convenience in decoder modules.
__all__ = [
    "CATALOGUE",
    "DecodeResult",
    "Decoder",
    "DecoderInfo",
    "Field",
    "Normalized",
    "Quantity",
    "Reading",
    "as_number",
    "lookup",
    "make_reading",
    "normalize_table",
]
