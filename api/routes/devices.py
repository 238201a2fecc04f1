"""Devices: list with status and filters, detail, uplink journal, metadata edits, import."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import fields as dc_fields
from datetime import datetime
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Body, Path, Query
from fastapi.exceptions import RequestValidationError

from api.deps import NowDep, ReadAccess, RegistryDep, WriteAccess
from api.errors import error_responses
from api.schemas import (
    BatteryLevelPublic,
    DeviceMetaUpdate,
    DevicePublic,
    DevicesPublic,
    GatewayPublic,
    ImportRequest,
    ImportResultPublic,
    ReadingValuePublic,
    SignalQualityPublic,
    TrafficLight,
    UplinkPublic,
    UplinksPublic,
)
from api.verdicts import battery_level, signal_quality
from decoders.quantities import CATALOGUE, Quantity
from lorawan_monitor.errors import ConfigError, UnknownDeviceError
from storage.devices_file import Format, parse_devices
from storage.registry_base import DeviceMeta, DeviceStatus, JournalEntry, Registry

router = APIRouter(prefix="/devices", tags=["devices"])

DeviceKey = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]+$",  # no control characters (a NUL once gave a 503)
        description="DevEUI (16 hex digits, any case) or the registry key of the device; "
        "a device without a DevEUI has the key `tts:<application>/<device>`, which goes in "
        "the path as it is (`/devices/tts:city/lht-1`) or URL-encoded",
        examples=["70B3D57ED0001234"],
    ),
]


# --- conversion -------------------------------------------------------------------------


def unit_of(quantity: str) -> str:
    try:
        return CATALOGUE[Quantity(quantity)].unit
    except ValueError:
        return ""


def jsonable(value: Any) -> Any:
    """Vendor dicts may hold NaN/inf or bytes, which JSON cannot carry: make them safe."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def readings_public(readings: Sequence[tuple[str, str, float]]) -> list[ReadingValuePublic]:
    return [
        ReadingValuePublic(quantity=q, sensor=s, value=v, unit=unit_of(q))
        for q, s, v in readings
        if isinstance(v, int | float) and math.isfinite(v)
    ]


def traffic_light(d: DeviceStatus, now: datetime) -> TrafficLight:
    if d.last_seen is None:
        return "never_seen"
    if d.overdue(now):
        return "overdue"
    if d.last_status in ("error", "codec_error"):
        return "decode_error"
    if d.last_status == "no_decoder":
        return "no_decoder"
    return "ok"


def _finite(v: float | None) -> float | None:
    return v if v is None or math.isfinite(v) else None


def _age(now: datetime, t: datetime | None) -> float | None:
    return round((now - t).total_seconds(), 1) if t is not None else None


def _signal(d: DeviceStatus) -> SignalQualityPublic | None:
    s = signal_quality(_finite(d.rssi), _finite(d.snr), d.spreading_factor)
    if s is None:
        return None
    return SignalQualityPublic(
        verdict=s.verdict, snr_floor_db=s.snr_floor_db, snr_margin_db=s.snr_margin_db
    )


def _battery(d: DeviceStatus) -> BatteryLevelPublic | None:
    b = battery_level(d.model_id, _finite(d.last_battery), _finite(d.last_battery_voltage))
    if b is None:
        return None
    return BatteryLevelPublic(
        verdict=b.verdict,
        value=b.value,
        unit=b.unit,
        low=b.low,
        critical=b.critical,
        source=b.source,
    )


def device_public(d: DeviceStatus, now: datetime) -> DevicePublic:
    m = d.meta
    interval, source = d.interval
    return DevicePublic(
        key=d.device_key,
        dev_eui=d.dev_eui,
        device_id=d.device_id,
        application=d.application,
        source=d.source,
        source_name=d.source_name,
        name=m.name,
        device_name=d.device_name,
        category=m.category,
        site=m.site,
        latitude=m.latitude,
        longitude=m.longitude,
        model_id=d.model_id,
        model_override=m.model_override,
        expected_interval_s=m.expected_interval_s,
        learned_interval_s=d.learned_interval_s,
        interval_s=interval,
        interval_source=source,
        public=m.public,
        notes=m.notes,
        tags=dict(m.tags or {}),
        status=traffic_light(d, now),
        decode_status=d.last_status,
        decode_error=d.last_error,
        decoder=d.decoder,
        first_seen=d.first_seen,
        last_seen=d.last_seen,
        last_seen_age_s=_age(now, d.last_seen),
        overdue=d.overdue(now),
        uplink_count=d.uplink_count,
        last_f_cnt=d.last_f_cnt,
        fcnt_missed=d.fcnt_missed,
        fcnt_missed_percent=round(d.missed_percent, 2),
        fcnt_resets=d.fcnt_resets,
        battery=_finite(d.last_battery),
        battery_voltage=_finite(d.last_battery_voltage),
        rssi=_finite(d.rssi),
        snr=_finite(d.snr),
        spreading_factor=d.spreading_factor,
        gateway_count=d.gateway_count,
        signal_quality=_signal(d),
        battery_level=_battery(d),
        last_readings=readings_public(d.last_readings),
        last_readings_at=d.last_readings_at,
        last_readings_age_s=_age(now, d.last_readings_at),
    )


def _gateway(g: Mapping[str, Any]) -> GatewayPublic:
    def num(x: Any) -> float | None:
        return float(x) if isinstance(x, int | float) and math.isfinite(x) else None

    gid = g.get("gateway_id") or g.get("eui") or ""
    return GatewayPublic(gateway_id=str(gid), rssi=num(g.get("rssi")), snr=num(g.get("snr")))


def uplinks_public(entries: Sequence[JournalEntry]) -> list[UplinkPublic]:
    """Journal entries, newest first, with the frame-counter gap to the previous uplink."""
    ordered = sorted(entries, key=lambda e: e.received_at)
    gaps: dict[int, int | None] = {}
    prev: JournalEntry | None = None
    for e in ordered:
        gap = None
        if prev is not None and e.f_cnt > prev.f_cnt:
            gap = e.f_cnt - prev.f_cnt - 1
        elif prev is not None:
            gap = 0  # repeat or counter reset: nothing known to be missed
        gaps[id(e)] = gap
        prev = e
    return [
        UplinkPublic(
            received_at=e.received_at,
            uplink_id=e.uplink_id,
            f_port=e.f_port,
            f_cnt=e.f_cnt,
            fcnt_gap=gaps[id(e)],
            payload_hex=e.payload.hex(),
            payload_size=len(e.payload),
            status=e.status,
            model_id=e.model_id,
            error=e.error,
            decoded=jsonable(e.decoded) if e.decoded is not None else None,
            gateways=[_gateway(g) for g in e.gateways],
        )
        for e in reversed(ordered)
    ]


_EUI_SEPARATORS = str.maketrans("", "", ":- ")


def search_term(q: str | None) -> str | None:
    """The search text; a DevEUI typed as ``A8:40:41…``, ``a8-40-41…`` or in groups of
    four is searched without its separators (as the registry stores it)."""
    if not q or not q.strip():
        return None
    q = q.strip()
    bare = q.translate(_EUI_SEPARATORS)
    if bare != q and len(bare) >= 4 and all(c in "0123456789abcdefABCDEF" for c in bare):
        return bare
    return q


def resolve(registry: Registry, key: str) -> DeviceStatus:
    """The device for a path key: exact key first, then the DevEUI in upper case."""
    d = registry.get_device(key)
    bare = key.translate(_EUI_SEPARATORS).upper()
    if d is None and bare != key and _is_eui(bare):
        d = registry.get_device(bare)
    if d is None:
        raise UnknownDeviceError(f"unknown device {key!r}")
    return d


# --- routes -----------------------------------------------------------------------------


@router.get(
    "",
    response_model=DevicesPublic,
    operation_id="list_devices",
    dependencies=[ReadAccess],
    responses=error_responses(401, 422),
)
def list_devices(
    registry: RegistryDep,
    now: NowDep,
    category: Annotated[
        str | None, Query(max_length=100, description="environment, tourism, traffic")
    ] = None,
    site: Annotated[str | None, Query(max_length=200)] = None,
    overdue: Annotated[
        bool, Query(description="true: only devices overdue against their expected interval")
    ] = False,
    decode_errors: Annotated[
        bool | None,
        Query(description="true: only devices whose last uplink failed to decode; false: none"),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="search in DevEUI (also typed with ':', '-' or spaces), device id, "
            "name, site and notes",
        ),
    ] = None,
    problems: Annotated[
        bool,
        Query(
            description="true: only devices whose traffic light is not OK (overdue, decode "
            "error, no decoder, never seen)"
        ),
    ] = False,
    sort: Annotated[
        Literal["key", "problems"],
        Query(description="key: by device key; problems: most urgent traffic light first"),
    ] = "key",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DevicesPublic:
    """Devices with their status (traffic light, last seen, decode result, radio)."""
    devices, total = registry.list_devices(
        problems_at=now if problems else None,
        problems_first_at=now if sort == "problems" else None,
        category=category,
        site=site,
        overdue_at=now if overdue else None,
        decode_errors=decode_errors,
        search=search_term(q),
        offset=offset,
        limit=limit,
    )
    data = [device_public(d, now) for d in devices]
    return DevicesPublic(data=data, count=len(data), total=total, offset=offset, limit=limit)


@router.post(
    "/import",
    response_model=ImportResultPublic,
    operation_id="import_devices",
    dependencies=[WriteAccess],
    responses=error_responses(401, 422),
)
def import_devices(
    registry: RegistryDep, body: Annotated[ImportRequest, Body()]
) -> ImportResultPublic:
    """Import a devices file (YAML or CSV, the format of LORAWAN_INGEST__DEVICES_FILE):
    creates devices that are not known yet and sets the metadata it gives."""
    entries = _parse_devices_file(body.format, body.content)
    created, updated = registry.import_meta(entries)  # one transaction, not one per row
    keys = [k for k, _ in entries]
    return ImportResultPublic(imported=len(keys), created=created, updated=updated, devices=keys)


def _parse_devices_file(fmt: Format, content: str) -> list[tuple[str, DeviceMeta]]:
    """Parse with ``storage.devices_file`` (the project's one devices-file format);
    its errors name the line and the field and become a 422 on ``content``."""
    try:
        return parse_devices(content, name="content", fmt=fmt)
    except (ConfigError, yaml.YAMLError) as exc:  # YAMLError: control characters escape it
        msg = str(exc) if isinstance(exc, ConfigError) else f"content: not valid YAML: {exc}"
        raise RequestValidationError(
            [{"loc": ("body", "content"), "msg": msg, "type": "value_error"}]
        ) from exc


# Device keys may contain "/" (``tts:<app>/<device>`` when there is no DevEUI), so the
# routes take the key as a path; the sub-resources come first, or "/{device_key:path}" would
# swallow ".../uplinks" (readings.py's /readings and /latest are included before this router).
@router.get(
    "/{device_key:path}/uplinks",
    response_model=UplinksPublic,
    operation_id="list_device_uplinks",
    dependencies=[ReadAccess],
    responses=error_responses(401, 404, 422),
)
def list_device_uplinks(
    registry: RegistryDep,
    device_key: DeviceKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> UplinksPublic:
    """The journal of recent raw uplinks, newest first: payload hex, port, counter and gap,
    gateways with RSSI/SNR, and the decoded dict or the error."""
    d = resolve(registry, device_key)
    data = uplinks_public(registry.journal(d.device_key, limit=limit))
    return UplinksPublic(device=d.device_key, data=data, count=len(data))


@router.get(
    "/{device_key:path}",
    response_model=DevicePublic,
    operation_id="get_device",
    dependencies=[ReadAccess],
    responses=error_responses(401, 404, 422),
)
def get_device(registry: RegistryDep, now: NowDep, device_key: DeviceKey) -> DevicePublic:
    """One device: status, decode result with its error text, radio, battery, last readings."""
    return device_public(resolve(registry, device_key), now)


@router.patch(
    "/{device_key:path}",
    response_model=DevicePublic,
    operation_id="update_device",
    dependencies=[WriteAccess],
    responses=error_responses(401, 404, 422),
)
def update_device(
    registry: RegistryDep,
    now: NowDep,
    device_key: DeviceKey,
    body: DeviceMetaUpdate,
    create: Annotated[
        bool, Query(description="create the device if it is not known yet (pre-registration)")
    ] = False,
) -> DevicePublic:
    """Edit metadata (name, category, site, position, model override, expected interval,
    public, notes, tags). Fields left out stay as they are. Needs an API key."""
    values = body.model_dump(exclude_unset=True)
    meta_fields = {f.name for f in dc_fields(DeviceMeta)}
    meta = DeviceMeta(**{k: v for k, v in values.items() if k in meta_fields})
    if create:
        if not NEW_KEY.fullmatch(device_key):
            raise RequestValidationError(
                [
                    {
                        "loc": ("path", "device_key"),
                        "msg": "a new device's key is a DevEUI (16 hex digits) or"
                        " '<tts|chirpstack|chirpstack-v3>:<application>/<device>'",
                        "type": "value_error",
                    }
                ]
            )
        key = device_key.upper() if _is_eui(device_key) else device_key
        return device_public(registry.update_meta(key, meta, create=True), now)
    d = resolve(registry, device_key)
    return device_public(registry.update_meta(d.device_key, meta), now)


#: the keys ingest gives devices (ingest.pipeline.device_key): what ``?create=true`` takes
NEW_KEY = re.compile(
    r"[0-9A-Fa-f]{16}|(?:tts|chirpstack|chirpstack-v3):[A-Za-z0-9][A-Za-z0-9._@-]{0,99}"
    r"/[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
)


def _is_eui(key: str) -> bool:
    return len(key) == 16 and all(c in "0123456789abcdefABCDEF" for c in key)
