"""Liveness and readiness: is the process alive, and can it do its job right now?"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import StateDep, StoreDep
from api.schemas import LivePublic, ReadyPublic, SourceStatePublic

log = logging.getLogger(__name__)

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=LivePublic, operation_id="health_live")
def health_live(state: StateDep) -> LivePublic:
    """The process is up and answers HTTP."""
    return LivePublic(uptime_s=round(max(0.0, time.time() - state.started), 3))


@router.get(
    "/ready",
    response_model=ReadyPublic,
    operation_id="health_ready",
    responses={503: {"model": ReadyPublic, "description": "Not ready; `reasons` says why"}},
)
def health_ready(state: StateDep, store: StoreDep) -> JSONResponse:
    """Ready to work: broker connected (when ingest runs here), store reachable, buffer not
    nearly full. 503 with reasons otherwise (for compose / Kubernetes probes)."""
    ok, reasons = state.ready()
    try:
        reachable = bool(store.ping())
    except Exception as exc:  # a probe must answer, whatever the store does
        log.debug("store ping failed: %r", exc)
        reachable = False
    if not reachable:
        reasons = [*reasons, "time-series store not reachable"]
    body = ReadyPublic(
        ready=ok and reachable,
        reasons=reasons,
        mqtt_enabled=state.mqtt_enabled,
        mqtt_connected=state.mqtt_connected,
        store_reachable=reachable,
        buffer_depth=state.buffer_depth,
        buffer_limit=state.buffer_limit,
        buffer_oldest_age_s=state.buffer_oldest_age,
        points_dropped=state.points_dropped,
        sources=[
            SourceStatePublic(name=name, up=up, reason=why)
            for name, (up, why) in sorted(state.sources.items())
        ],
        registry_pending=state.registry_pending,
        registry_ok=state.registry_ok,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if body.ready else 503)
