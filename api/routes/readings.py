"""Readings: a device's time series (optionally downsampled) and the latest values."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError

from api.deps import NowDep, ReadAccess, RegistryDep, StoreDep
from api.errors import error_responses
from api.routes.devices import DeviceKey, readings_public, resolve, unit_of
from api.schemas import (
    LatestListPublic,
    LatestPublic,
    PointPublic,
    ReadingsPublic,
    SeriesPublic,
)
from decoders.quantities import Quantity
from storage.registry_base import DeviceStatus

router = APIRouter(tags=["readings"])

#: the time range every store can represent (InfluxDB: int64 nanoseconds)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_BUCKETS = 100_000
DEFAULT_SPAN = timedelta(hours=24)
_INTERVAL_RE = re.compile(r"^(\d{1,8})([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def tidy(value: float | None) -> float | None:
    """A computed mean without binary noise (11.79, not 11.790000000000001): 12 significant
    digits, more than any sensor measures (#14)."""
    return float(f"{value:.12g}") if value is not None else None


def _bad(param: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", param), "msg": msg, "type": "value_error"}])


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_interval(text: str) -> int:
    """``"900"``, ``"900s"``, ``"15m"``, ``"1h"``, ``"1d"`` -> seconds."""
    m = _INTERVAL_RE.match(text.strip())
    if not m:
        raise _bad("interval", "expected a duration such as 300s, 15m, 1h or 1d")
    seconds = int(m.group(1)) * _UNIT_S[m.group(2)]
    if not 1 <= seconds <= 366 * 86400:
        raise _bad("interval", "must be between 1s and 366d")
    return seconds


def time_range(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    try:
        end_ = _utc(end) if end is not None else now
        start_ = _utc(start) if start is not None else end_ - DEFAULT_SPAN
    except OverflowError:
        raise _bad("start", f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}") from None
    for name, t in (("start", start_), ("end", end_)):
        if not EARLIEST <= t <= LATEST:
            raise _bad(name, f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    if start_ >= end_:
        raise _bad("start", "must be before end")
    return start_, end_


def _where(d: DeviceStatus) -> dict[str, str]:
    return {"dev_eui": d.dev_eui} if d.dev_eui else {"device": d.device_id}


@router.get(
    "/devices/{device_key:path}/readings",
    response_model=ReadingsPublic,
    operation_id="get_device_readings",
    dependencies=[ReadAccess],
    responses=error_responses(401, 404, 422, 503),
)
def get_device_readings(
    registry: RegistryDep,
    store: StoreDep,
    now: NowDep,
    device_key: DeviceKey,
    quantity: Annotated[Quantity, Query(description="canonical quantity (GET /quantities)")],
    start: Annotated[
        datetime | None, Query(description="ISO 8601; default: 24 h before end")
    ] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601, exclusive; default: now")] = None,
    interval: Annotated[
        str | None,
        Query(
            max_length=12,
            description="downsample into buckets of this length: 300s, 15m, 1h, 1d",
            examples=["15m"],
        ),
    ] = None,
    aggregate: Annotated[
        Literal["mean", "min", "max"], Query(description="how a bucket is summarised")
    ] = "mean",
) -> ReadingsPublic:
    """One quantity of one device over [start, end), raw or downsampled (interval +
    mean / min / max). One series per sensor label; values in the quantity's unit."""
    d = resolve(registry, device_key)
    start_, end_ = time_range(start, end, now)
    interval_s = parse_interval(interval) if interval else None
    if interval_s and (end_ - start_).total_seconds() / interval_s > MAX_BUCKETS:
        raise _bad("interval", f"too fine for this range: more than {MAX_BUCKETS} buckets")
    series = store.query(
        str(quantity),
        start=start_,
        end=end_,
        where=_where(d),
        interval_s=interval_s,
        aggregate=aggregate,
        group_by=("sensor",),
    )
    unit = unit_of(str(quantity))
    data = [
        SeriesPublic(
            quantity=s.quantity,
            sensor=s.tags.get("sensor", ""),
            unit=unit,
            tags=dict(s.tags),
            points=[
                PointPublic(time=p.time, value=tidy(p.value) if interval_s else p.value)
                for p in s.points
            ],
        )
        for s in series
    ]
    return ReadingsPublic(
        device=d.device_key,
        quantity=str(quantity),
        unit=unit,
        start=start_,
        end=end_,
        interval_s=interval_s,
        aggregate=aggregate if interval_s else None,
        data=data,
        count=sum(len(s.points) for s in data),
    )


def latest_public(d: DeviceStatus) -> LatestPublic:
    return LatestPublic(
        device=d.device_key,
        name=d.meta.name,
        dev_eui=d.dev_eui,
        time=d.last_seen,
        readings=readings_public(d.last_readings),
    )


@router.get(
    "/devices/{device_key:path}/latest",
    response_model=LatestPublic,
    operation_id="get_device_latest",
    dependencies=[ReadAccess],
    responses=error_responses(401, 404, 422),
)
def get_device_latest(registry: RegistryDep, device_key: DeviceKey) -> LatestPublic:
    """The values of the device's last decoded uplink, with units."""
    return latest_public(resolve(registry, device_key))


@router.get(
    "/readings/latest",
    response_model=LatestListPublic,
    operation_id="list_latest_readings",
    dependencies=[ReadAccess],
    responses=error_responses(401, 422),
)
def list_latest_readings(
    registry: RegistryDep,
    category: Annotated[str | None, Query(max_length=100)] = None,
    site: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> LatestListPublic:
    """The latest values of every device (paginated; filter by category and site)."""
    devices, total = registry.list_devices(category=category, site=site, offset=offset, limit=limit)
    data = [latest_public(d) for d in devices]
    return LatestListPublic(data=data, count=len(data), total=total, offset=offset, limit=limit)
