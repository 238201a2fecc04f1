"""Alerts (#17): the active ones, their history, acknowledge and silence (with a key).

The alert tables live in the registry database, so every API process shows the same
alerts whichever process evaluates them. The shape of ``GET /alerts`` is a contract with
the installer page: ``{"alerts": [{id, rule, kind, severity, state, since, value, unit,
title, description, device_key, device_name, site, acknowledged, silenced_until}]}``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.rules import parse_duration
from alerts.state import AlertDb
from api.deps import NowDep, ReadAccess, WriteAccess
from api.errors import error_responses
from lorawan_monitor.errors import SinkUnavailableError, UnknownDeviceError

router = APIRouter(prefix="/alerts", tags=["alerts"])


class AlertPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(description="`<rule>:<device key>` (or `<rule>:gw:<gateway>`)")
    rule: str
    kind: str = Field(description="silent, battery, decode, threshold or gateway")
    severity: Literal["info", "warning", "critical"]
    state: Literal["pending", "firing"]
    since: datetime = Field(description="since when the condition holds")
    value: float | None
    unit: str | None
    title: str
    description: str
    device_key: str | None
    device_name: str | None
    site: str | None
    acknowledged: bool
    silenced_until: datetime | None


class AlertsPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    alerts: list[AlertPublic]


class AlertEventPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    alert_id: str
    rule: str
    severity: str
    event: str = Field(description="pending, firing, resolved, acknowledged or silenced")
    at: datetime
    value: float | None
    unit: str | None
    title: str | None
    device_key: str | None
    comment: str | None


class AlertHistoryPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    history: list[AlertEventPublic]


class AcknowledgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field("", max_length=2000)
    by: str = Field("", max_length=200, description="who acknowledges (name or initials)")


class SilenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration: float = Field(
        gt=0,
        le=30 * 86400,
        description="seconds (at most 30 days); text like `2h`, `30m`, `1d` is accepted too",
        json_schema_extra={"examples": [7200]},
    )
    comment: str = Field("", max_length=2000)

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        return parse_duration(v) if isinstance(v, str) else v


def alert_db(request: Request) -> AlertDb:
    db: AlertDb | None = getattr(request.app.state, "alert_db", None)
    if db is None:
        engine = getattr(request.app.state.registry, "engine", None)
        if engine is None:
            raise SinkUnavailableError("alerts need the SQL registry (no alert tables here)")
        db = AlertDb(engine)
        request.app.state.alert_db = db
    return db


def _public(row: dict[str, Any]) -> AlertPublic:
    return AlertPublic(
        id=row["id"],
        rule=row["rule"],
        kind=row["kind"],
        severity=row["severity"],
        state=row["state"],
        since=row["active_since"],
        value=row["value"],
        unit=row["unit"],
        title=row["title"],
        description=row["description"],
        device_key=row["device_key"],
        device_name=row["device_name"],
        site=row["site"],
        acknowledged=bool(row["acknowledged"]),
        silenced_until=row["silenced_until"],
    )


AlertId = Annotated[
    str, Path(min_length=1, max_length=300, examples=["pegel-hoch:70B3D57ED0001234"])
]


@router.get(
    "",
    dependencies=[ReadAccess],
    response_model=AlertsPublic,
    responses=error_responses(401, 503),
)
def list_alerts(
    request: Request,
    device: Annotated[
        str | None, Query(max_length=200, description="only this device's alerts (its key)")
    ] = None,
) -> AlertsPublic:
    """The active alerts (pending and firing), oldest first."""
    key = device.upper() if device and _is_eui(device) else device
    return AlertsPublic(alerts=[_public(r) for r in alert_db(request).active(key)])


@router.get(
    "/history",
    dependencies=[ReadAccess],
    response_model=AlertHistoryPublic,
    responses=error_responses(401, 503),
)
def alert_history(
    request: Request,
    device: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[datetime | None, Query(description="ISO-8601; events at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertHistoryPublic:
    """Transitions, acknowledgements and silences, newest first."""
    key = device.upper() if device and _is_eui(device) else device
    rows = alert_db(request).history(device_key=key, since=since, limit=limit)
    return AlertHistoryPublic(
        history=[AlertEventPublic(**{k: r[k] for k in AlertEventPublic.model_fields}) for r in rows]
    )


@router.post(
    "/{alert_id:path}/acknowledge",
    dependencies=[WriteAccess],
    response_model=AlertPublic,
    responses=error_responses(401, 404, 422, 503),
)
def acknowledge_alert(
    request: Request,
    alert_id: AlertId,
    now: NowDep,
    body: Annotated[AcknowledgeRequest | None, Body()] = None,
) -> AlertPublic:
    """Acknowledge an active alert: no more reminders (it still resolves as usual)."""
    db = alert_db(request)
    body = body or AcknowledgeRequest()
    if not db.acknowledge(alert_id, by=body.by, comment=body.comment, now=now):
        raise UnknownDeviceError(f"no active alert {alert_id!r}")
    return _found(db, alert_id)


@router.post(
    "/{alert_id:path}/silence",
    dependencies=[WriteAccess],
    response_model=AlertPublic,
    responses=error_responses(401, 404, 422, 503),
)
def silence_alert(
    request: Request,
    alert_id: AlertId,
    now: NowDep,
    body: Annotated[SilenceRequest, Body()],
) -> AlertPublic:
    """Silence an active alert for a while: no notifications until then."""
    db = alert_db(request)
    until = now + timedelta(seconds=body.duration)
    if not db.silence(alert_id, until=until, comment=body.comment, now=now):
        raise UnknownDeviceError(f"no active alert {alert_id!r}")
    return _found(db, alert_id)


def _found(db: AlertDb, alert_id: str) -> AlertPublic:
    row = db.get(alert_id)
    if row is None:
        raise UnknownDeviceError(f"no active alert {alert_id!r}")
    return _public(row)


def _is_eui(key: str) -> bool:
    return len(key) == 16 and all(c in "0123456789abcdefABCDEF" for c in key)
