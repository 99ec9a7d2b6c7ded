"""``/metrics``: the app's own Prometheus registry in text or OpenMetrics format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry

from nocd.metrics import render

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Prometheus metrics of this process",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(request: Request) -> Response:
    """Scrape endpoint; unauthenticated like every Prometheus target, and free of secrets."""
    # A plain ``def``: FastAPI runs it in the thread pool, so the inventory query that the
    # collector makes never blocks the event loop.
    registry: CollectorRegistry = request.app.state.registry
    body, content_type = render(registry, request.headers.get("accept"))
    return Response(content=body, media_type=content_type)
