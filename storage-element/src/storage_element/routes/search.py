"""Поиск по кэшу элемента (для query-module)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from artstore_common import CurrentPrincipal, SearchRequest

from ..element import Element
from ..search import search, suggest
from . import element

router = APIRouter(prefix="/api/v1/search", tags=["search"])


@router.post("", summary="Поиск файлов элемента")
@router.post("/", include_in_schema=False)
async def post_search(req: SearchRequest, _: CurrentPrincipal, el: Element = Depends(element)) -> dict[str, Any]:
    return await search(el.engine, el.settings.files_table, el.settings.table_prefix, req)


@router.get("/suggest", summary="Подсказки по именам файлов и тегам")
async def get_suggest(_: CurrentPrincipal, prefix: str = Query(..., min_length=1, max_length=200),
                      limit: int = Query(10, ge=1, le=50), el: Element = Depends(element)) -> dict[str, Any]:
    return await suggest(el.engine, el.settings.files_table, el.settings.table_prefix, prefix, limit)
