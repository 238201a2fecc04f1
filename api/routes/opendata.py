"""OpenData downloads: aggregated data (CSV, JSON), stations (GeoJSON), DCAT-AP.de metadata.

``from``/``to`` are local dates (Europe/Berlin), ``to`` exclusive; without them the last
seven complete local days. These URLs are stable, so a CKAN resource may link them
(``lorawan-monitor opendata publish --urls``). The OpenData settings come from
``app.state.opendata`` when set, else from ``LORAWAN_OPENDATA__*``.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from api.deps import NowDep, ReadAccess, RegistryDep, StoreDep
from opendata.config import OpenDataSettings
from opendata.dcat import dataset_jsonld
from opendata.files import Export, readme, stations_geojson, to_csv, to_json
from opendata.service import build_export
from opendata.stations import stations_from_registry

router = APIRouter(prefix="/opendata", tags=["opendata"], dependencies=[ReadAccess])

IntervalParam = Literal["15m", "1h", "1d", "1mo", "PT15M", "PT1H", "P1D", "P1M"]


def get_opendata_settings(request: Request) -> OpenDataSettings:
    cfg = getattr(request.app.state, "opendata", None)
    if cfg is None:
        cfg = OpenDataSettings()
        request.app.state.opendata = cfg
    assert isinstance(cfg, OpenDataSettings)
    return cfg


OpenDataDep = Annotated[OpenDataSettings, Depends(get_opendata_settings)]


def get_export(
    store: StoreDep,
    registry: RegistryDep,
    cfg: OpenDataDep,
    now: NowDep,
    interval: Annotated[IntervalParam, Query(description="aggregation period")] = "1d",
    first: Annotated[
        date | None, Query(alias="from", description="first local date (default: 7 days ago)")
    ] = None,
    end: Annotated[
        date | None, Query(alias="to", description="local date after the last (exclusive)")
    ] = None,
    category: Annotated[str | None, Query(description="environment | tourism | traffic")] = None,
) -> Export:
    today = now.astimezone(ZoneInfo(cfg.timezone)).date()
    end = end or today
    first = first or end - timedelta(days=7)
    if end <= first:
        raise HTTPException(422, detail="'to' must be after 'from'")
    if (end - first).days > 366:
        raise HTTPException(422, detail="'from'..'to' may span at most 366 days")
    return build_export(
        store,
        registry,
        cfg,
        first=first,
        end=end,
        interval=interval,
        category=category,
        now=now,
    )


ExportDep = Annotated[Export, Depends(get_export)]


@router.get(
    "/data.csv",
    operation_id="opendata_csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "long-format CSV"}},
)
def data_csv(export: ExportDep) -> Response:
    return Response(to_csv(export.rows), media_type="text/csv; charset=utf-8")


@router.get(
    "/data.json",
    operation_id="opendata_json",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "rows as JSON"}},
)
def data_json(export: ExportDep) -> Response:
    return Response(to_json(export), media_type="application/json")


@router.get(
    "/stations.geojson",
    operation_id="opendata_stations",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}, "description": "stations"}},
)
def stations(registry: RegistryDep, category: Annotated[str | None, Query()] = None) -> Response:
    body = stations_geojson(stations_from_registry(registry, category))
    return Response(body, media_type="application/geo+json")


@router.get(
    "/metadata.jsonld",
    operation_id="opendata_metadata",
    response_class=Response,
    responses={200: {"content": {"application/ld+json": {}}, "description": "DCAT-AP.de"}},
)
def metadata(export: ExportDep, cfg: OpenDataDep) -> Response:
    body = json.dumps(dataset_jsonld(export, cfg), ensure_ascii=False)
    return Response(body, media_type="application/ld+json")


@router.get(
    "/README.md",
    operation_id="opendata_readme",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}, "description": "column guide"}},
)
def readme_md(export: ExportDep, cfg: OpenDataDep) -> Response:
    return Response(readme(export, cfg), media_type="text/markdown; charset=utf-8")
