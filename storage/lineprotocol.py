"""InfluxDB line protocol serialization, deterministic (tags and fields sorted).

The same Point always gives the same bytes, so golden files compare exactly and a
replayed uplink overwrites its own points.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from storage.base import FieldValue, Point

_MEAS = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_TAG = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})


def escape_measurement(name: str) -> str:
    return name.translate(_MEAS)


def escape_key(key: str) -> str:
    return key.translate(_TAG)


def _field(value: FieldValue) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            return None  # InfluxDB cannot store NaN/inf; the pipeline drops them earlier
        return repr(value)
    s = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def line(point: Point) -> str:
    parts = [escape_measurement(point.measurement)]
    for k in sorted(point.tags):
        v = point.tags[k]
        if v != "":  # InfluxDB rejects empty tag values: an empty tag is an absent tag
            parts.append(f"{escape_key(k)}={escape_key(v)}")
    fields = []
    for k in sorted(point.fields):
        f = _field(point.fields[k])
        if f is not None:
            fields.append(f"{escape_key(k)}={f}")
    if not fields:
        return ""
    return f"{','.join(parts)} {','.join(fields)} {point.time_ns}"


def lines(points: Iterable[Point]) -> str:
    return "\n".join(s for s in (line(p) for p in points) if s)
