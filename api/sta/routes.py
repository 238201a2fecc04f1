"""``/sta/v1.1``: the read-only OGC SensorThings API v1.1 (OGC 18-088).

Resource paths (section 9.2): ``/Things``, ``/Things('id')``, ``/Things('id')/Datastreams``,
``/Datastreams('id')/Observations``, ``/Things('id')/name``, ``…/name/$value``, ``…/$ref``.
Errors answer as FROST-Server does: ``{"code": 400, "type": "error", "message": …}``.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from api.deps import ReadAccess, RegistryDep, StoreDep
from api.schemas import ErrorPublic
from api.sta.model import ENTITY_SETS, NAVIGATION, Entity, StaModel
from api.sta.service import Options, StaError, StaRequest, json_value, parse_options
from storage.base import TimeSeriesStore
from storage.registry_base import Registry

PREFIX = "/sta/v1.1"
CONFORMANCE = (
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array",
)
_SEGMENT = re.compile(r"^([A-Za-z@.$]+)(?:\((?:'((?:[^']|'')*)'|([^()']+))\))?$")

router = APIRouter(prefix=PREFIX, tags=["sensorthings"], dependencies=[ReadAccess])


class StaErrorPublic(BaseModel):
    """An error as FROST-Server answers it."""

    code: int
    type: Literal["error"] = "error"
    message: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": StaErrorPublic, "description": "A query option the server cannot read"},
    # a path the router cannot match at all (e.g. with a newline) is the app's own 404
    404: {
        "model": StaErrorPublic | ErrorPublic,
        "description": "No such entity, entity set or property",
    },
}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "type": "error", "message": message}, status_code=status)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


@router.get("", summary="SensorThings service root", include_in_schema=True)
def sta_root(request: Request) -> dict[str, Any]:
    base = _base(request)
    return {
        "value": [{"name": n, "url": f"{base}/{n}"} for n in ENTITY_SETS],
        "serverSettings": {"conformance": list(CONFORMANCE)},
    }


@router.get("/{path:path}", summary="SensorThings resources (read-only)", responses=_ERRORS)
def sta_resource(
    path: str,
    request: Request,
    store: StoreDep,
    registry: RegistryDep,
) -> Response:
    try:
        return _answer(path, request, store, registry)
    except StaError as exc:
        return _error(exc.status, exc.message)


def _answer(path: str, request: Request, store: TimeSeriesStore, registry: Registry) -> Response:
    params = dict(request.query_params.items())
    opts = parse_options(params)
    segments = _segments(path)
    req = StaRequest(base=_base(request), model=_model(request, registry), store=store)
    link = f"{req.base}/{path.strip('/')}"

    first, first_id = segments[0]
    if first not in ENTITY_SETS:
        raise StaError(404, f"no entity set {first!r} (one of {', '.join(ENTITY_SETS)})")
    current: Entity | None = None
    coll: tuple[Entity | None, str] | None = None
    if first_id is None:
        coll = (None, first)
    else:
        current = _lookup(req, first, first_id)
    rest = segments[1:]
    while rest:
        name, sid = rest[0]
        rest = rest[1:]
        if name == "$ref":
            if rest:
                raise StaError(400, "$ref must be the last segment")
            return _refs(req, current, coll, opts, link, params)
        if name == "$value":
            raise StaError(400, "$value follows a property, e.g. /Things('x')/name/$value")
        if coll is not None:
            parent, nav = coll
            kind = NAVIGATION[parent.kind][nav][0] if parent is not None else nav
            if sid is None:
                raise StaError(404, f"{name!r} is not addressable here")
            raise StaError(404, f"path continues after a collection of {kind}")
        assert current is not None
        navs = NAVIGATION[current.kind]
        if name in navs:
            kind, many = navs[name]
            if many:
                if sid is not None:
                    current = _member(req, current, name, sid)
                else:
                    coll = (current, name)
                    current = None
            else:
                rel = current.rel.get(name)
                if not isinstance(rel, Entity):
                    raise StaError(404, f"{current.kind}('{current.id}') has no {name}")
                current = rel
            continue
        if name in current.props or name in ("@iot.id", "id"):
            value = current.id if name in ("@iot.id", "id") else current.props[name]
            if rest == [("$value", None)]:
                return PlainTextResponse("" if value is None else str(json_value(value)))
            if rest:
                raise StaError(404, f"nothing below the property {name!r}")
            return JSONResponse({name: json_value(value)})
        raise StaError(404, f"{current.kind} have no property or navigation {name!r}")
    if coll is not None:
        parent, nav = coll
        body = req.collection(parent, nav, opts, link=link, params=params)
        return JSONResponse(body)
    assert current is not None
    return JSONResponse(req.render(current, opts))


#: the registry-derived entities are rebuilt at most this often (seconds): a public device
#: and its metadata appear on the SensorThings API within this time
MODEL_TTL = 10.0


def _model(request: Request, registry: Registry) -> StaModel:
    """The entity graph of the public devices, shared by the requests of ``MODEL_TTL`` s:
    one registry read per ten seconds instead of one per request."""
    cached: tuple[float, StaModel] | None = getattr(request.app.state, "sta_model", None)
    now = time.monotonic()
    if cached is not None and now - cached[0] < MODEL_TTL:
        return cached[1]
    model = StaModel.from_registry(registry)
    request.app.state.sta_model = (now, model)
    return model


def _segments(path: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for raw in [p for p in path.strip("/").split("/") if p]:
        m = _SEGMENT.match(raw)
        if m is None:
            raise StaError(404, f"cannot read the path segment {raw!r}")
        ident = m.group(2).replace("''", "'") if m.group(2) is not None else m.group(3)
        out.append((m.group(1), ident))
    if not out:
        raise StaError(404, "empty path")
    return out


def _lookup(req: StaRequest, kind: str, ident: str) -> Entity:
    if kind == "Observations":
        return req.observation_by_id(ident)
    e = req.model.sets[kind].get(ident)
    if e is None:
        raise StaError(404, f"no {kind[:-1] if kind.endswith('s') else kind} with id {ident!r}")
    return e


def _member(req: StaRequest, parent: Entity, nav: str, ident: str) -> Entity:
    kind = NAVIGATION[parent.kind][nav][0]
    e = _lookup(req, kind, ident)
    if kind == "Observations":
        owner = e.rel["Datastream"]
        if parent.kind == "Datastreams" and owner is not parent:
            raise StaError(404, f"{ident!r} is not an Observation of {parent.id!r}")
        return e
    if e not in parent.rel.get(nav, []):
        raise StaError(404, f"{ident!r} is not one of the {nav} of {parent.kind}('{parent.id}')")
    return e


def _refs(
    req: StaRequest,
    current: Entity | None,
    coll: tuple[Entity | None, str] | None,
    opts: Options,
    link: str,
    params: dict[str, str],
) -> Response:
    if current is not None and coll is None:
        return JSONResponse({"@iot.selfLink": req.self_link(current)})
    assert coll is not None
    body = req.collection(
        coll[0],
        coll[1],
        replace(opts, select=("@iot.selfLink",), expand=()),
        link=link,
        params=params,
    )
    return JSONResponse(body)
