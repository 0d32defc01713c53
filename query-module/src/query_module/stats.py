"""Счётчики для панели admin-ui: одна лёгкая JSON-ручка вместо разбора /metrics в браузере."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from artstore_common import CurrentPrincipal

router = APIRouter(prefix="/api/v1", tags=["stats"])


class StatsResponse(BaseModel):
    searches_total: int
    downloads_total: int
    download_bytes_total: int
    errors_total: int
    cache_hit_ratio: float


@router.get("/stats", response_model=StatsResponse, summary="Счётчики этого экземпляра query-module")
async def stats(request: Request, _: CurrentPrincipal) -> StatsResponse:
    return StatsResponse(**request.app.state.metrics.stats.as_dict())
