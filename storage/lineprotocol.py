"""InfluxDB line protocol: one escaping rule for every string, and its exact reader.

Serialization is deterministic (tags and fields sorted), so the same Point always
gives the same bytes: golden files compare exactly and a replayed uplink overwrites
its own points.

**The escaping rule** (InfluxDB 1.x line protocol, ``models/points.go``). Some strings
cannot be written faithfully at all — InfluxDB 1.x has no escape for a newline, and a
backslash directly before an escaped character or at the end of a tag is read as an
escape itself (``trail\\`` breaks the line). So every text first goes through
:func:`clean`, a documented, lossy-only-where-unavoidable normalisation:

1. a lone surrogate (not UTF-8 encodable) becomes U+FFFD;
2. a control character (U+0000-U+001F, U+007F: newline, tab, NUL ...) becomes a space;
3. in names, tag keys, tag values and field keys, a backslash that ends the text or
   stands directly before ``,``, ``=`` or a space becomes ``/``.

Then each part is escaped as InfluxDB 1.x reads it: the measurement escapes comma and
space (a leading ``#`` would make the line a comment, so it becomes ``_``); tag keys,
tag values and field keys escape comma, equals sign and space; string field values
escape backslash and double quote. Tags with an empty key or value, and the reserved
keys ``time``, ``_field`` and ``_measurement`` (refused or shadowed by InfluxDB), never
reach the wire: :func:`tag_pairs` drops them.

:func:`parse_line` reads a line exactly as InfluxDB 1.x does (a backslash pairs with the
next character while scanning; quotes matter only in the field section), so what the
embedded SQLite store reads back is what InfluxDB would have stored:
``parse_line(line(p))`` equals ``p`` after :func:`clean` (tests/storage/test_lineprotocol.py
checks this by property, against a real influxd and the SQLite store).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping

from storage.base import FieldValue, Point

#: tag keys InfluxDB 1.x refuses or shadows; they never reach the wire
RESERVED_TAG_KEYS = frozenset({"time", "_field", "_measurement"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_BAD_BACKSLASH = re.compile(r"\\(?=[,= ]|$)")
_MEAS = str.maketrans({",": r"\,", " ": r"\ "})
_TAG = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STR = str.maketrans({"\\": "\\\\", '"': '\\"'})


def clean_text(value: str) -> str:
    """Steps 1 and 2 of the rule: encodable, no control characters (string fields)."""
    if value.isascii() and value.isprintable():
        return value
    return _CONTROL.sub(" ", _SURROGATE.sub("\ufffd", value))


def clean(value: str) -> str:
    """The whole rule (steps 1-3) for names, tag keys, tag values and field keys."""
    return _clean_cached(value) if len(value) <= _CACHED_LEN else _clean(value)


def escape_key(key: str) -> str:
    """Clean and escape a tag key, tag value or field key (cached: tags repeat per device;
    only short strings, so hostile long names cannot fill memory)."""
    return _escape_cached(key) if len(key) <= _CACHED_LEN else _escape(key)


def _escape(key: str) -> str:
    return _clean(key).translate(_TAG)


def _clean(value: str) -> str:
    value = clean_text(value)
    if "\\" in value:
        value = _BAD_BACKSLASH.sub("/", value)
    return value


def escape_measurement(name: str) -> str:
    name = clean(name)
    if name.startswith("#"):
        name = "_" + name[1:]
    return name.translate(_MEAS)


_CACHED_LEN = 200
_clean_cached = functools.lru_cache(maxsize=65536)(_clean)
_escape_cached = functools.lru_cache(maxsize=65536)(_escape)


def escape_string(value: str) -> str:
    """A string field value, quoted."""
    return '"' + clean_text(value).translate(_STR) + '"'


def tag_pairs(tags: Mapping[str, str]) -> list[str]:
    """The escaped ``k=v`` pairs, sorted by key, without empty or reserved keys/values.

    Sorted by code point, which is UTF-8 byte order, the order InfluxDB keeps."""
    out = []
    for k in sorted(tags):
        v = tags[k]
        if v and k and k not in RESERVED_TAG_KEYS:
            ek, ev = escape_key(k), escape_key(v)
            if ek and ev:
                out.append(f"{ek}={ev}")
    return out


def _field(value: FieldValue) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            return None  # InfluxDB cannot store NaN/inf; the pipeline drops them earlier
        return repr(value)
    return escape_string(value)


def line(point: Point) -> str:
    """One line; ``""`` when the point has no storable field."""
    parts = [escape_measurement(point.measurement), *tag_pairs(point.tags)]
    fields = []
    for k in sorted(point.fields):
        f = _field(point.fields[k])
        if f is not None and k and k != "time":
            fields.append(f"{escape_key(k)}={f}")
    if not fields or not parts[0]:
        return ""
    return f"{','.join(parts)} {','.join(fields)} {point.time_ns}"


def lines(points: Iterable[Point]) -> str:
    return "\n".join(s for s in (line(p) for p in points) if s)


# -- reading ------------------------------------------------------------------------------


def _scan(text: str, i: int, stops: str) -> int:
    """Index of the first unescaped character of ``stops`` from ``i`` (or ``len(text)``)."""
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c in stops:
            return i
        i += 1
    return n


def _unescape(s: str, codes: str) -> str:
    """Replace ``\\x`` by ``x`` for x in ``codes``; every other backslash stays."""
    if "\\" not in s:
        return s
    out = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in codes:
            out.append(s[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _bad(text: str, why: str) -> ValueError:
    return ValueError(f"not a line-protocol line ({why}): {text[:120]!r}")


def _string_end(text: str, i: int) -> int:
    """Index of the closing quote of the string that opens at ``text[i]``."""
    j, n = i + 1, len(text)
    while j < n:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == '"':
            return j
        j += 1
    raise _bad(text, "unterminated string")


def _field_value(text: str, raw: str) -> FieldValue:
    if raw.startswith('"'):
        return _unescape(raw[1:-1], '\\"')
    if raw in ("true", "t", "T", "True", "TRUE"):
        return True
    if raw in ("false", "f", "F", "False", "FALSE"):
        return False
    try:
        if raw.endswith("i"):
            return int(raw[:-1])
        v = float(raw)
    except ValueError:
        raise _bad(text, f"bad field value {raw[:40]!r}") from None
    if not math.isfinite(v):
        raise _bad(text, "non-finite field value")
    return v


def parse_line(text: str) -> Point:
    """Parse one line as InfluxDB 1.x does; ``ValueError`` names what is wrong."""
    n = len(text)
    i = _scan(text, 0, ", ")
    measurement = _unescape(text[:i], ", ")
    if not measurement:
        raise _bad(text, "no measurement")
    tags: dict[str, str] = {}
    while i < n and text[i] == ",":
        j = _scan(text, i + 1, "=, ")
        if j >= n or text[j] != "=":
            raise _bad(text, "tag without '='")
        k = _scan(text, j + 1, ", ")
        key, value = _unescape(text[i + 1 : j], ",= "), _unescape(text[j + 1 : k], ",= ")
        if not key or not value:
            raise _bad(text, "empty tag key or value")
        tags[key] = value
        i = k
    if i >= n or text[i] != " ":
        raise _bad(text, "no fields")
    fields: dict[str, FieldValue] = {}
    i += 1
    while True:
        j = _scan(text, i, "=, ")
        if j >= n or text[j] != "=" or j == i:
            raise _bad(text, "field without '='")
        key = _unescape(text[i:j], ",= ")
        k = _string_end(text, j + 1) + 1 if text[j + 1 : j + 2] == '"' else _scan(text, j + 1, ", ")
        fields[key] = _field_value(text, text[j + 1 : k])
        i = k
        if i < n and text[i] == ",":
            i += 1
            continue
        break
    if i >= n or text[i] != " ":
        raise _bad(text, "no timestamp")
    ts = text[i + 1 :]
    if not ts.lstrip("-").isdigit():
        raise _bad(text, "bad timestamp")
    return Point(measurement=measurement, tags=tags, fields=fields, time_ns=int(ts))
