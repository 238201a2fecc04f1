"""Answering SensorThings requests: resource paths, query options, ``$expand``, dataArray.

Registry-derived collections (Things, Datastreams …) are filtered, sorted and paged over
the public devices of one registry read. Observations are never read whole: their
``$filter`` (time and result comparisons joined by ``and``), ``$orderby`` (by time),
``$top``, ``$skip`` and ``$count`` become one store query (InfluxQL or SQL) per Datastream.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from api.sta.filter import (
    COMPARISONS,
    AnyOf,
    BinOp,
    FilterError,
    Lit,
    Node,
    Prop,
    evaluate,
    parse_filter,
    split_and,
)
from api.sta.model import NAVIGATION, Entity, StaModel
from storage.base import Comparison, PointQuery, TimeSeriesStore
from storage.sqlite import from_ns

DEFAULT_TOP = 100
MAX_TOP = 1000
#: Observations of more Datastreams than this are not merged in one request
MAX_MERGED_STREAMS = 200
_OPTIONS = {"$filter", "$expand", "$select", "$orderby", "$top", "$skip", "$count", "$resultFormat"}
_FLIP: dict[str, Comparison] = {
    "gt": "lt",
    "ge": "le",
    "lt": "gt",
    "le": "ge",
    "eq": "eq",
    "ne": "ne",
}


class StaError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# -- query options ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Options:
    filter: Node | None = None
    orderby: tuple[tuple[tuple[str, ...], bool], ...] = ()  # (path, descending)
    top: int | None = None
    skip: int = 0
    count: bool = False
    select: tuple[str, ...] | None = None
    expand: tuple[tuple[tuple[str, ...], Options], ...] = ()
    data_array: bool = False


def _split(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside parentheses and quotes."""
    out: list[str] = []
    cur: list[str] = []
    depth, quoted = 0, False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth < 0:
                raise StaError(400, f"unbalanced parentheses in {text!r}")
        if ch == sep and depth == 0 and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0 or quoted:
        raise StaError(400, f"unbalanced parentheses or quotes in {text!r}")
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]


def parse_options(params: Mapping[str, str], *, nested: bool = False) -> Options:
    unknown = [k for k in params if k.startswith("$") and k not in _OPTIONS]
    if unknown:
        raise StaError(400, f"unknown query option {unknown[0]!r}")
    kw: dict[str, Any] = {}
    try:
        if "$filter" in params:
            kw["filter"] = parse_filter(params["$filter"])
    except FilterError as exc:
        raise StaError(400, f"$filter: {exc}") from exc
    if "$top" in params:
        kw["top"] = _int_option("$top", params["$top"])
        if kw["top"] > MAX_TOP:
            kw["top"] = MAX_TOP  # the server-side limit (OGC 18-088 9.3.3.3)
    if "$skip" in params:
        kw["skip"] = _int_option("$skip", params["$skip"])
    if "$count" in params:
        if params["$count"] not in ("true", "false"):
            raise StaError(400, "$count must be true or false")
        kw["count"] = params["$count"] == "true"
    if "$select" in params:
        kw["select"] = tuple(s.strip() for s in params["$select"].split(",") if s.strip())
        if not kw["select"]:
            raise StaError(400, "$select is empty")
    if "$orderby" in params:
        order = []
        for part in _split(params["$orderby"], ","):
            bits = part.split()
            if len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
                raise StaError(400, f"$orderby: cannot read {part!r} (property [asc|desc])")
            order.append((tuple(bits[0].split("/")), len(bits) == 2 and bits[1].lower() == "desc"))
        kw["orderby"] = tuple(order)
    if "$expand" in params:
        kw["expand"] = tuple(_expand_item(item) for item in _split(params["$expand"], ","))
    if "$resultFormat" in params:
        if params["$resultFormat"] != "dataArray":
            raise StaError(400, "$resultFormat: only dataArray is offered")
        kw["data_array"] = True
    return Options(**kw)


def _int_option(name: str, text: str) -> int:
    if not re.fullmatch(r"\d{1,9}", text.strip()):
        raise StaError(400, f"{name} must be a non-negative integer, got {text!r}")
    return int(text)


def _expand_item(item: str) -> tuple[tuple[str, ...], Options]:
    m = re.fullmatch(r"([A-Za-z/]+)(?:\((.*)\))?", item, re.S)
    if m is None:
        raise StaError(400, f"$expand: cannot read {item!r}")
    path = tuple(m.group(1).split("/"))
    inner: dict[str, str] = {}
    if m.group(2):
        for opt in _split(m.group(2), ";"):
            key, eq, value = opt.partition("=")
            if not eq:
                raise StaError(400, f"$expand: cannot read option {opt!r}")
            inner[key.strip()] = value.strip()
    return path, parse_options(inner, nested=True)


# -- the request -------------------------------------------------------------------------------


@dataclass
class StaRequest:
    base: str  # ".../sta/v1.1"
    model: StaModel
    store: TimeSeriesStore
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    # -- links
    def self_link(self, e: Entity) -> str:
        return f"{self.base}/{e.kind}('{quote(e.id, safe='')}')"

    # -- entity output -----------------------------------------------------------------------
    def render(self, e: Entity, opts: Options) -> dict[str, Any]:
        out: dict[str, Any] = {}
        wanted = set(opts.select) if opts.select else None
        if wanted is None or "@iot.id" in wanted or "id" in wanted:
            out["@iot.id"] = e.id
        if wanted is None or "@iot.selfLink" in wanted:
            out["@iot.selfLink"] = self.self_link(e)
        for k, v in e.props.items():
            if wanted is None or k in wanted:
                out[k] = json_value(v)
        expanded = {path[0] for path, _ in opts.expand}
        for nav in NAVIGATION[e.kind]:
            if (wanted is None or nav in wanted) and nav not in expanded:
                out[f"{nav}@iot.navigationLink"] = f"{self.self_link(e)}/{nav}"
        for path, sub in opts.expand:
            nav = path[0]
            if nav not in NAVIGATION[e.kind]:
                raise StaError(400, f"$expand: {e.kind} have no navigation property {nav!r}")
            sub_opts = sub if len(path) == 1 else Options(expand=((path[1:], sub),))
            _target, many = NAVIGATION[e.kind][nav]
            if many:
                coll = self.collection(e, nav, sub_opts, link=f"{self.self_link(e)}/{nav}")
                out[nav] = coll["value"]
                if "@iot.count" in coll:
                    out[f"{nav}@iot.count"] = coll["@iot.count"]
                if "@iot.nextLink" in coll:
                    out[f"{nav}@iot.nextLink"] = coll["@iot.nextLink"]
            else:
                rel = e.rel.get(nav)
                out[nav] = self.render(rel, sub_opts) if isinstance(rel, Entity) else None
        return out

    # -- collections -------------------------------------------------------------------------
    def collection(
        self,
        parent: Entity | None,
        nav: str,
        opts: Options,
        *,
        link: str,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        kind = NAVIGATION[parent.kind][nav][0] if parent is not None else nav
        if kind == "Observations":
            return self._observations(parent, opts, link=link, params=params)
        items = (
            list(self.model.sets[kind].values())
            if parent is None
            else list(parent.rel.get(nav, []))
        )
        try:
            if opts.filter is not None:
                items = [e for e in items if evaluate(opts.filter, _resolver(e)) is True]
            for path, desc in reversed(opts.orderby):  # stable sorts: last key first
                items.sort(key=_order_key(path), reverse=desc)
        except FilterError as exc:
            raise StaError(400, f"$filter: {exc}") from exc
        total = len(items)
        top = DEFAULT_TOP if opts.top is None else opts.top
        page = items[opts.skip : opts.skip + top]
        out: dict[str, Any] = {}
        if opts.count:
            out["@iot.count"] = total
        out["value"] = [self.render(e, opts) for e in page]
        if top > 0 and opts.skip + top < total and params is not None:
            out["@iot.nextLink"] = _next_link(link, params, opts.skip + top, top)
        return out

    # -- observations: pushed down to the store ----------------------------------------------
    def _observations(
        self, parent: Entity | None, opts: Options, *, link: str, params: Mapping[str, str] | None
    ) -> dict[str, Any]:
        streams = self._streams_of(parent, opts)
        base, rest = _pushdown(opts.filter)
        if rest:
            raise StaError(
                400,
                "$filter on Observations: only phenomenonTime/resultTime and result "
                "comparisons with literals, joined by 'and' (and Datastream/@iot.id eq '…'), "
                "are offered; they run in the database",
            )
        desc = False
        for path, d in opts.orderby:
            if path[-1] not in ("phenomenonTime", "resultTime", "id", "@iot.id"):
                raise StaError(
                    400, "$orderby on Observations: by phenomenonTime or resultTime only"
                )
            desc = d
            break
        top = DEFAULT_TOP if opts.top is None else opts.top
        queries: list[tuple[Entity, PointQuery]] = []
        for ds in streams:
            key = self.model.streams[ds.id]
            if key.people and base.values:
                raise StaError(400, "result filters are not offered on people counts (privacy)")
            queries.append(
                (ds, key.query(start=base.start, end=base.end, values=base.values, descending=desc))
            )
        rows: list[tuple[datetime, Entity, float | None]] = []
        total = 0
        single = len(queries) == 1
        for ds, q in queries:
            if single:  # paged in the store
                pts = self.store.read_points(q, limit=top, offset=opts.skip)
            else:  # each stream's first skip+top, merged here
                pts = self.store.read_points(q, limit=opts.skip + top, offset=0)
            rows.extend((p.time, ds, p.value) for p in pts)
            if opts.count:
                total += self.store.count_points(q)
        rows.sort(key=lambda r: (r[0], r[1].id), reverse=desc)
        if not single:
            rows = rows[opts.skip : opts.skip + top]
        obs = [self.model.observation(ds, t, v) for t, ds, v in rows]
        out: dict[str, Any] = {}
        if opts.count:
            out["@iot.count"] = total
        if opts.data_array:
            out["value"] = self._data_array(obs, opts)
        else:
            out["value"] = [self.render(o, opts) for o in obs]
        has_more = opts.skip + top < total if opts.count else len(rows) == top
        if has_more and params is not None and top > 0:
            out["@iot.nextLink"] = _next_link(link, params, opts.skip + top, top)
        return out

    def _streams_of(self, parent: Entity | None, opts: Options) -> list[Entity]:
        if parent is not None and parent.kind == "Datastreams":
            return [parent]
        if parent is not None and parent.kind == "FeaturesOfInterest":
            thing = self.model.sets["Things"].get(parent.id)
            return list(thing.rel["Datastreams"]) if thing else []
        wanted = _datastream_ids(opts.filter)
        if wanted is not None:
            return [d for i in wanted if (d := self.model.sets["Datastreams"].get(i)) is not None]
        streams = list(self.model.sets["Datastreams"].values())
        if len(streams) > MAX_MERGED_STREAMS:
            raise StaError(
                400,
                f"{len(streams)} Datastreams: read Observations through /Datastreams(id)/"
                "Observations or filter by Datastream/@iot.id",
            )
        return streams

    def _data_array(self, obs: Sequence[Entity], opts: Options) -> list[dict[str, Any]]:
        components = list(opts.select or ("id", "phenomenonTime", "result"))
        allowed = {"id", "phenomenonTime", "resultTime", "result", "resultQuality"}
        bad = [c for c in components if c not in allowed]
        if bad:
            raise StaError(400, f"dataArray: unknown component {bad[0]!r}")
        groups: dict[str, list[Entity]] = {}
        for o in obs:
            groups.setdefault(o.rel["Datastream"].id, []).append(o)
        out = []
        for ds_id, items in groups.items():
            ds = self.model.sets["Datastreams"][ds_id]
            rows = [
                [o.id if c == "id" else json_value(o.props.get(c)) for c in components]
                for o in items
            ]
            out.append(
                {
                    "Datastream@iot.navigationLink": self.self_link(ds),
                    "components": components,
                    "dataArray@iot.count": len(rows),
                    "dataArray": rows,
                }
            )
        return out

    def observation_by_id(self, oid: str) -> Entity:
        ds_id, _, ns = oid.rpartition(".")
        ds = self.model.sets["Datastreams"].get(ds_id)
        if ds is None or not ns.isdigit():
            raise StaError(404, f"no Observation {oid!r}")
        t = from_ns(int(ns))
        q = self.model.streams[ds_id].query(start=t, end=t + timedelta(microseconds=1))
        pts = self.store.read_points(q, limit=1)
        if not pts:
            raise StaError(404, f"no Observation {oid!r}")
        return self.model.observation(ds, pts[0].time, pts[0].value)


# -- helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Base:
    start: datetime | None = None
    end: datetime | None = None
    values: tuple[tuple[Comparison, float], ...] = ()


def _pushdown(node: Node | None) -> tuple[_Base, list[Node]]:
    """The conjuncts the store can run: time bounds and result comparisons."""
    if node is None:
        return _Base(), []
    start: datetime | None = None
    end: datetime | None = None
    values: list[tuple[Comparison, float]] = []
    rest: list[Node] = []
    for term in split_and(node):
        if not (isinstance(term, BinOp) and term.op in COMPARISONS):
            rest.append(term)
            continue
        op, a, b = term.op, term.left, term.right
        if isinstance(a, Lit) and isinstance(b, Prop):
            a, b, op = b, a, _FLIP[op]
        if not (isinstance(a, Prop) and isinstance(b, Lit)):
            rest.append(term)
            continue
        name = a.path[-1] if len(a.path) == 1 else "/".join(a.path)
        v = b.value
        if name in ("phenomenonTime", "resultTime") and isinstance(v, datetime):
            t = v
            if op in ("gt", "ge"):
                t = t + timedelta(microseconds=1) if op == "gt" else t
                start = t if start is None or t > start else start
            elif op in ("lt", "le"):
                t = t + timedelta(microseconds=1) if op == "le" else t
                end = t if end is None or t < end else end
            elif op == "eq":
                start = t if start is None or t > start else start
                e2 = t + timedelta(microseconds=1)
                end = e2 if end is None or e2 < end else end
            else:
                rest.append(term)
        elif name == "result" and isinstance(v, int | float) and not isinstance(v, bool):
            values.append((op, float(v)))  # type: ignore[arg-type]
        elif name in ("Datastream/@iot.id", "Datastream/id") and op == "eq" and isinstance(v, str):
            continue  # narrows the streams (see _datastream_ids)
        else:
            rest.append(term)
    return _Base(start, end, tuple(values)), rest


def _datastream_ids(node: Node | None) -> list[str] | None:
    if node is None:
        return None
    ids = []
    for term in split_and(node):
        if (
            isinstance(term, BinOp)
            and term.op == "eq"
            and isinstance(term.left, Prop)
            and term.left.path in (("Datastream", "@iot.id"), ("Datastream", "id"))
            and isinstance(term.right, Lit)
            and isinstance(term.right.value, str)
        ):
            ids.append(term.right.value)
    return ids or None


def _resolver(e: Entity) -> Callable[[tuple[str, ...]], Any]:
    """Property paths through properties, JSON objects and navigation; a path through a
    to-many navigation gives :class:`AnyOf` its values."""

    def walk(cur: Any, path: tuple[str, ...]) -> Any:
        for i, part in enumerate(path):
            if cur is None:
                return None
            if isinstance(cur, Entity):
                if part in ("@iot.id", "id"):
                    cur = cur.id
                elif part in cur.props:
                    cur = cur.props[part]
                elif part in NAVIGATION[cur.kind]:
                    rel = cur.rel.get(part)
                    if isinstance(rel, list):
                        vals = [walk(x, path[i + 1 :]) for x in rel]
                        flat: list[Any] = []
                        for v in vals:
                            flat.extend(v.items if isinstance(v, AnyOf) else [v])
                        return AnyOf(tuple(flat))
                    cur = rel
                else:
                    return None
            elif isinstance(cur, Mapping):
                cur = cur.get(part)
            else:
                return None
        return cur

    return lambda path: walk(e, path)


def _order_key(path: tuple[str, ...]) -> Callable[[Entity], tuple[int, Any]]:
    def key(e: Entity) -> tuple[int, Any]:
        return _sort_key(_resolver(e)(path))

    return key


def _sort_key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, 0)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return (1, float(v))
    if isinstance(v, datetime):
        return (2, v.timestamp())
    return (3, str(v))


def json_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return v


def _next_link(link: str, params: Mapping[str, str], skip: int, top: int) -> str:
    q = dict(params)
    q["$skip"] = str(skip)
    q["$top"] = str(top)
    return link + "?" + urlencode(q, safe=_URL_SAFE)


_URL_SAFE = "$(),;/'"
