"""``GET /metrics``: the process's Prometheus metrics in the text exposition format."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics() -> Response:
    """Messages by outcome and reason, decode errors by model, write batches and latency,
    buffer depth (Prometheus text format)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
