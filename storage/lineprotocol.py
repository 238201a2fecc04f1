"""InfluxDB line protocol serialization, deterministic (tags and fields sorted).

The same Point always gives the same bytes, so golden files compare exactly and a
replayed uplink overwrites its own points.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

from storage.base import FieldValue, Point

_MEAS = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_TAG = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})


def escape_measurement(name: str) -> str:
    return name.translate(_MEAS)


@functools.lru_cache(maxsize=65536)
def escape_key(key: str) -> str:
    """Escape a tag key, tag value or field key (cached: tag values repeat per device)."""
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


def _split_unescaped(s: str, sep: str) -> list[str]:
    out, cur, i = [], [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            cur.append(s[i : i + 2])
            i += 2
            continue
        if c == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return out


def _unescape(s: str) -> str:
    return s.replace("\\,", ",").replace("\\=", "=").replace("\\ ", " ").replace("\\n", "\n")


def parse_line(text: str) -> Point:
    """Parse one line written by :func:`line` back into a Point (our own output only:
    string fields without spaces-in-quotes edge cases beyond what ``line`` escapes)."""
    # measurement+tags | fields | timestamp, separated by unescaped spaces outside quotes
    parts: list[str] = []
    cur: list[str] = []
    in_q = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if c == '"':
            in_q = not in_q
        if c == " " and not in_q:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    if len(parts) != 3:
        raise ValueError(f"not a line-protocol line with a timestamp: {text[:80]!r}")
    head, fields_s, ts = parts
    mt = _split_unescaped(head, ",")
    tags = {}
    for kv in mt[1:]:
        k, v = _split_unescaped(kv, "=")
        tags[_unescape(k)] = _unescape(v)
    fields: dict[str, FieldValue] = {}
    for kv in _split_unescaped(fields_s, ","):
        k, _, v = kv.partition("=")
        key = _unescape(k)
        if v.startswith('"'):
            fields[key] = v[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        elif v.endswith("i"):
            fields[key] = int(v[:-1])
        elif v in ("true", "false"):
            fields[key] = v == "true"
        else:
            fields[key] = float(v)
    return Point(measurement=_unescape(mt[0]), tags=tags, fields=fields, time_ns=int(ts))
