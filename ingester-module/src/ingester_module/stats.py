"""``GET /api/v1/stats``: счётчики для панели admin-ui (сумма по всем репликам через Redis)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from artstore_common import CircuitState, CurrentPrincipal

router = APIRouter(prefix="/api/v1", tags=["stats"])


@router.get("/stats", summary="Счётчики загрузок, ошибок и переносов")
async def stats(request: Request, _: CurrentPrincipal) -> dict[str, Any]:
    state = request.app.state
    totals: dict[str, Any] = await state.stats.read()
    totals["saga_transactions"] = dict(state.metrics.saga_counts)
    totals["discovery_fallback_active"] = state.discovery.fallback_active
    totals["storage_elements"] = [
        {"id": e.get("id"), "mode": e.get("mode"), "status": e.get("status"),
         "free_bytes": e.get("free_bytes"),
         "circuit": state.http.breaker(e["api_url"]).state.value if e.get("api_url") else CircuitState.CLOSED.value}
        for e in state.discovery.elements
    ]
    return totals
