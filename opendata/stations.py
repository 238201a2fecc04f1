"""Stations of an export: the public devices of the registry, with what a reader needs.

Only devices whose registry metadata says ``public: true`` are stations; every other
device is absent from every file. A station's id is its DevEUI (the registry key).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from storage.registry_base import DeviceStatus, Registry


@dataclass(frozen=True, kw_only=True, slots=True)
class Station:
    station_id: str  # DevEUI, upper-case hex (the ``dev_eui`` tag of the points)
    name: str
    category: str | None = None
    site: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    model: str | None = None
    expected_interval_s: int | None = None


def station_from_status(d: DeviceStatus) -> Station:
    m = d.meta
    return Station(
        station_id=d.dev_eui or d.device_key,
        name=m.name or d.device_id,
        category=m.category,
        site=m.site,
        latitude=m.latitude,
        longitude=m.longitude,
        model=d.model_id,
        expected_interval_s=m.expected_interval_s,
    )


def public_stations(devices: Iterable[DeviceStatus], category: str | None = None) -> list[Station]:
    return sorted(
        (
            station_from_status(d)
            for d in devices
            if d.meta.public is True and (category is None or d.meta.category == category)
        ),
        key=lambda s: s.station_id,
    )


def stations_from_registry(registry: Registry, category: str | None = None) -> list[Station]:
    """All public devices (of a category), read page by page."""
    devices: list[DeviceStatus] = []
    offset = 0
    while True:
        page, total = registry.list_devices(category=category, offset=offset, limit=500)
        devices.extend(page)
        offset += len(page)
        if not page or offset >= total:
            break
    return public_stations(devices, category)
