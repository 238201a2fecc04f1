"""One function that builds an export, shared by the CLI, the API and ``publish``."""

from __future__ import annotations

from datetime import UTC, date, datetime

from opendata.aggregate import Aggregator, parse_interval
from opendata.config import OpenDataSettings
from opendata.files import Export
from opendata.stations import stations_from_registry
from storage.base import TimeSeriesStore
from storage.registry_base import Registry


def build_export(
    store: TimeSeriesStore,
    registry: Registry,
    cfg: OpenDataSettings,
    *,
    first: date,
    end: date,
    interval: str,
    category: str | None = None,
    now: datetime | None = None,
) -> Export:
    if end <= first:
        raise ValueError(f"'to' ({end}) must be after 'from' ({first})")
    iv = parse_interval(interval)
    stations = stations_from_registry(registry, category)
    rows = Aggregator(store, stations, tz=cfg.timezone, min_people_count=cfg.min_people_count).rows(
        first, end, iv
    )
    return Export(
        rows=rows,
        stations=stations,
        interval=iv,
        first=first,
        end=end,
        category=category,
        generated_at=(now or datetime.now(UTC)).replace(microsecond=0),
    )
