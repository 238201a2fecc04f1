"""``$filter`` of the SensorThings API (OGC 18-088, section 9.3.3.5): parse and evaluate.

The grammar is OData's as SensorThings uses it: comparisons (``eq ne gt ge lt le``),
``and`` / ``or`` / ``not``, arithmetic (``add sub mul div mod``), parentheses, literals
(strings in single quotes with ``''`` for a quote, numbers, ``true``/``false``/``null``,
ISO 8601 times, ``geography'…'`` WKT), property paths (``name``, ``properties/site``,
``Datastream/Thing/name``, ``@iot.id``) and the functions of table 10 of the standard:
string, date, math and the spatial ones (``geo.intersects``, ``geo.distance``,
``st_within`` …, computed with shapely).

Every error is a :class:`FilterError` with a message for the caller (HTTP 400), never
another exception. ``split_and`` gives the conjuncts so that the route can push the
comparisons a store understands down to it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import shapely
from shapely import wkt
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry


class FilterError(ValueError):
    """A ``$filter`` (or ``$orderby``) the server cannot read: the message says why."""


# -- the syntax tree --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lit:
    value: Any


@dataclass(frozen=True, slots=True)
class Prop:
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # eq ne gt ge lt le and or add sub mul div mod
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...]


Node = Lit | Prop | BinOp | Not | Call

COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_ARITH = frozenset({"add", "sub", "mul", "div", "mod"})
#: binding power of the infix operators (OData: or < and < comparison < add/sub < mul/div/mod)
_POWER = {"or": 1, "and": 2, **dict.fromkeys(COMPARISONS, 3), "add": 4, "sub": 4}
_POWER.update({"mul": 5, "div": 5, "mod": 5})

# -- tokens -------------------------------------------------------------------------------

_ONE_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?"
_TIME = rf"{_ONE_TIME}(?:/{_ONE_TIME})?"
_TOKEN = re.compile(
    rf"""\s*(?:
      (?P<geo>geography'(?:[^']|'')*')
    | (?P<str>'(?:[^']|'')*')
    | (?P<time>{_TIME})
    | (?P<date>\d{{4}}-\d{{2}}-\d{{2}}(?![\d:T]))
    | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<name>@?[A-Za-z_][A-Za-z0-9_.]*(?:/@?[A-Za-z_][A-Za-z0-9_.]*)*)
    | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FilterError(f"cannot read $filter at position {pos}: {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


# -- parser (precedence climbing) ---------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise FilterError("$filter ends too early")
        self.i += 1
        return tok

    def expect(self, punct: str) -> None:
        tok = self.take()
        if tok != ("punct", punct):
            raise FilterError(f"expected {punct!r} in $filter, found {tok[1]!r}")

    def parse(self) -> Node:
        if not self.toks:
            raise FilterError("$filter is empty")
        node = self.expr(0)
        if self.peek() is not None:
            raise FilterError(f"unexpected {self.peek()[1]!r} in $filter")  # type: ignore[index]
        return node

    def expr(self, min_power: int) -> Node:
        """Precedence climbing: infix operators bind left to right by ``_POWER``."""
        left = self.unary()
        while True:
            tok = self.peek()
            if tok is None or tok[0] != "name" or tok[1] not in _POWER:
                return left
            power = _POWER[tok[1]]
            if power <= min_power:
                return left
            self.take()
            left = BinOp(tok[1], left, self.expr(power))

    def unary(self) -> Node:
        tok = self.take()
        kind, text = tok
        if kind == "name" and text == "not":
            return Not(self.expr(_POWER["and"]))
        if kind == "punct" and text == "(":
            node = self.expr(0)
            self.expect(")")
            return node
        if kind == "punct":
            raise FilterError(f"unexpected {text!r} in $filter")
        if kind == "str":
            return Lit(text[1:-1].replace("''", "'"))
        if kind == "geo":
            body = text[len("geography'") : -1].replace("''", "'")
            try:
                return Lit(wkt.loads(body))
            except Exception as exc:  # shapely raises several kinds for bad WKT
                raise FilterError(f"not a WKT geometry: {body[:60]!r}") from exc
        if kind == "time":
            return Lit(_time_literal(text))
        if kind == "date":
            return Lit(date.fromisoformat(text))
        if kind == "num":
            return Lit(float(text) if any(c in text for c in ".eE") else int(text))
        # a name: keyword literal, function call or property path
        if text in ("true", "false"):
            return Lit(text == "true")
        if text == "null":
            return Lit(None)
        if text in _POWER:
            raise FilterError(f"operator {text!r} needs something on its left")
        nxt = self.peek()
        if nxt == ("punct", "("):
            self.take()
            args: list[Node] = []
            if self.peek() != ("punct", ")"):
                args.append(self.expr(0))
                while self.peek() == ("punct", ","):
                    self.take()
                    args.append(self.expr(0))
            self.expect(")")
            name = text.lower()
            if name not in FUNCTIONS:
                raise FilterError(f"unknown function {text!r} in $filter")
            arity = FUNCTIONS[name][0]
            if len(args) not in arity:
                raise FilterError(f"{text}() takes {' or '.join(map(str, arity))} arguments")
            return Call(name, tuple(args))
        return Prop(tuple(text.split("/")))


def _time_literal(text: str) -> datetime | tuple[datetime, datetime]:
    def one(s: str) -> datetime:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)

    try:
        if "/" in text:
            a, b = text.split("/", 1)
            return (one(a), one(b))
        return one(text)
    except ValueError as exc:
        raise FilterError(f"not an ISO 8601 time: {text!r}") from exc


def parse_filter(text: str) -> Node:
    """The syntax tree of a ``$filter`` expression; raises FilterError."""
    if len(text) > 4000:
        raise FilterError("$filter is longer than 4,000 characters")
    return _Parser(text).parse()


def split_and(node: Node) -> list[Node]:
    """The conjuncts of a top-level ``and`` chain."""
    if isinstance(node, BinOp) and node.op == "and":
        return split_and(node.left) + split_and(node.right)
    return [node]


# -- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnyOf:
    """The values a path takes through a to-many navigation (``Datastreams/name``): a
    comparison or function holds when it holds for any of them (FROST's semantics)."""

    items: tuple[Any, ...]


Resolver = Callable[[tuple[str, ...]], Any]


def evaluate(node: Node, resolve: Resolver) -> Any:
    """Evaluate against one entity; ``resolve(path)`` returns a property's value (None when
    absent). Comparisons with null are false (OData's rule) except ``eq null``/``ne null``."""
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Prop):
        return resolve(node.path)
    if isinstance(node, Not):
        return not _truth(evaluate(node.operand, resolve))
    if isinstance(node, Call):
        args = [evaluate(a, resolve) for a in node.args]
        fn = FUNCTIONS[node.name][1]
        many = next((i for i, a in enumerate(args) if isinstance(a, AnyOf)), None)
        if many is not None:
            items = args[many].items
            results = [_call(fn, [*args[:many], x, *args[many + 1 :]]) for x in items]
            return True if any(r is True for r in results) else AnyOf(tuple(results))
        return _call(fn, args)
    op = node.op
    if op == "and":
        return _truth(evaluate(node.left, resolve)) and _truth(evaluate(node.right, resolve))
    if op == "or":
        return _truth(evaluate(node.left, resolve)) or _truth(evaluate(node.right, resolve))
    a, b = evaluate(node.left, resolve), evaluate(node.right, resolve)
    if isinstance(a, AnyOf) or isinstance(b, AnyOf):
        xs = a.items if isinstance(a, AnyOf) else (a,)
        ys = b.items if isinstance(b, AnyOf) else (b,)
        if op in _ARITH:
            return AnyOf(tuple(_arith(op, x, y) for x in xs for y in ys))
        return any(compare(op, x, y) for x in xs for y in ys)
    if op in _ARITH:
        return _arith(op, a, b)
    return compare(op, a, b)


def _call(fn: Callable[..., Any], args: list[Any]) -> Any:
    try:
        return fn(*args)
    except (TypeError, ValueError, AttributeError, ZeroDivisionError, shapely.errors.ShapelyError):
        return None


def _truth(v: Any) -> bool:
    return v is True


def _arith(op: str, a: Any, b: Any) -> Any:
    if not (isinstance(a, int | float) and isinstance(b, int | float)):
        return None
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    try:
        if op == "add":
            return a + b
        if op == "sub":
            return a - b
        if op == "mul":
            return a * b
        if op == "div":
            return a / b
        return math.fmod(a, b)
    except ZeroDivisionError:
        return None


def _comparable(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Bring two values to one type, or None when they cannot be compared."""
    if isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], datetime):
        a = a[0]  # an interval compares by its start
    if isinstance(b, tuple) and len(b) == 2 and isinstance(b[0], datetime):
        b = b[0]
    if isinstance(a, date) and not isinstance(a, datetime) and isinstance(b, datetime):
        b = b.date()
    if isinstance(b, date) and not isinstance(b, datetime) and isinstance(a, datetime):
        a = a.date()
    if isinstance(a, datetime) and isinstance(b, str):
        try:
            b = _time_literal(b)
        except FilterError:
            return None
    if isinstance(b, datetime) and isinstance(a, str):
        try:
            a = _time_literal(a)
        except FilterError:
            return None
    num = (int, float)
    if isinstance(a, bool) != isinstance(b, bool):
        return None
    if isinstance(a, num) and isinstance(b, num):
        return a, b
    if type(a) is type(b) or (isinstance(a, datetime) and isinstance(b, datetime)):
        return a, b
    if isinstance(a, date) and isinstance(b, date):
        return a, b
    return None


def compare(op: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        if op == "eq":
            return a is None and b is None
        if op == "ne":
            return (a is None) != (b is None)
        return False
    pair = _comparable(a, b)
    if pair is None:
        return op == "ne"
    x, y = pair
    try:
        if op == "eq":
            return bool(x == y)
        if op == "ne":
            return bool(x != y)
        if op == "gt":
            return bool(x > y)
        if op == "ge":
            return bool(x >= y)
        if op == "lt":
            return bool(x < y)
        return bool(x <= y)
    except TypeError:
        return False


# -- functions (OGC 18-088 table 10) ----------------------------------------------------------


def _geom(v: Any) -> BaseGeometry:
    if isinstance(v, BaseGeometry):
        return v
    if isinstance(v, Mapping):
        return shape(v)
    raise TypeError("not a geometry")


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError("not a string")
    return v


def _dt(v: Any) -> datetime:
    if isinstance(v, tuple):
        v = v[0]
    if isinstance(v, str):
        v = _time_literal(v)
    if not isinstance(v, datetime):
        raise TypeError("not a time")
    return v


def _substring(s: Any, start: Any, n: Any = None) -> str:
    text = _str(s)
    return text[int(start) :] if n is None else text[int(start) : int(start) + int(n)]


def _spatial(pred: str) -> Callable[[Any, Any], bool]:
    def f(a: Any, b: Any) -> bool:
        return bool(getattr(_geom(a), pred)(_geom(b)))

    return f


def _relate(a: Any, b: Any, pattern: Any) -> bool:
    return bool(_geom(a).relate_pattern(_geom(b), _str(pattern)))


FUNCTIONS: dict[str, tuple[tuple[int, ...], Callable[..., Any]]] = {
    # strings
    "substringof": ((2,), lambda a, b: _str(a) in _str(b)),
    "endswith": ((2,), lambda a, b: _str(a).endswith(_str(b))),
    "startswith": ((2,), lambda a, b: _str(a).startswith(_str(b))),
    "length": ((1,), lambda a: len(_str(a))),
    "indexof": ((2,), lambda a, b: _str(a).find(_str(b))),
    "substring": ((2, 3), _substring),
    "tolower": ((1,), lambda a: _str(a).lower()),
    "toupper": ((1,), lambda a: _str(a).upper()),
    "trim": ((1,), lambda a: _str(a).strip()),
    "concat": ((2,), lambda a, b: _str(a) + _str(b)),
    # times
    "year": ((1,), lambda a: _dt(a).year),
    "month": ((1,), lambda a: _dt(a).month),
    "day": ((1,), lambda a: _dt(a).day),
    "hour": ((1,), lambda a: _dt(a).hour),
    "minute": ((1,), lambda a: _dt(a).minute),
    "second": ((1,), lambda a: _dt(a).second),
    "fractionalseconds": ((1,), lambda a: _dt(a).microsecond / 1e6),
    "date": ((1,), lambda a: _dt(a).date()),
    "time": ((1,), lambda a: _dt(a).timetz()),
    "totaloffsetminutes": ((1,), lambda a: 0),
    "now": ((0,), lambda: datetime.now(UTC)),
    "mindatetime": ((0,), lambda: datetime(1, 1, 1, tzinfo=UTC)),
    "maxdatetime": ((0,), lambda: datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    # math
    "round": ((1,), lambda a: float(round(float(a)))),
    "floor": ((1,), lambda a: float(math.floor(float(a)))),
    "ceiling": ((1,), lambda a: float(math.ceil(float(a)))),
    # geometry (WGS 84 coordinates as given: distances in degrees, as FROST computes them)
    "geo.distance": ((2,), lambda a, b: float(_geom(a).distance(_geom(b)))),
    "geo.length": ((1,), lambda a: float(_geom(a).length)),
    "geo.intersects": ((2,), _spatial("intersects")),
    "st_equals": ((2,), _spatial("equals")),
    "st_disjoint": ((2,), _spatial("disjoint")),
    "st_touches": ((2,), _spatial("touches")),
    "st_within": ((2,), _spatial("within")),
    "st_overlaps": ((2,), _spatial("overlaps")),
    "st_crosses": ((2,), _spatial("crosses")),
    "st_intersects": ((2,), _spatial("intersects")),
    "st_contains": ((2,), _spatial("contains")),
    "st_relate": ((3,), _relate),
}
