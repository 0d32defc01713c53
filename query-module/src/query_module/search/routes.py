"""Маршруты поиска: POST /search (тело JSON), GET /search?q= (для curl), GET /search/suggest."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from artstore_common import Role, SearchMode, SearchRequest, SortBy, SortOrder, roles

from ..ratelimit import limited_readers
from .models import SearchResponse, SuggestResponse
from .service import SearchService

router = APIRouter(prefix="/api/v1", tags=["search"])
READERS = limited_readers(roles(Role.ADMIN, Role.USER, Role.AUDITOR, Role.READONLY))


def _service(request: Request) -> SearchService:
    service: SearchService = request.app.state.search
    return service


@router.post("/search", response_model=SearchResponse, dependencies=[READERS],
             summary="Поиск по всем элементам хранения", operation_id="searchFiles")
@router.post("/search/", response_model=SearchResponse, dependencies=[READERS], include_in_schema=False)
async def search(body: SearchRequest, request: Request) -> SearchResponse:
    return await _service(request).search(body)


@router.get("/search", response_model=SearchResponse, dependencies=[READERS],
            summary="Поиск параметрами адреса (удобно из curl)", operation_id="searchFilesGet")
@router.get("/search/", response_model=SearchResponse, dependencies=[READERS], include_in_schema=False)
async def search_get(
    request: Request,
    q: Annotated[str | None, Query(description="Текст запроса")] = None,
    query: Annotated[str | None, Query(description="То же, что q")] = None,
    filename: str | None = None,
    tags: Annotated[list[str] | None, Query(description="Повторяемый параметр или через запятую")] = None,
    username: str | None = None,
    content_type: str | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    mode: SearchMode = "fulltext",
    limit: int = 50,
    offset: int = 0,
    sort_by: SortBy = "relevance",
    sort_order: SortOrder = "desc",
) -> SearchResponse:
    raw: dict[str, Any] = {
        "query": q if q is not None else query, "filename": filename, "username": username,
        "content_type": content_type,
        "min_size": min_size, "max_size": max_size, "created_after": created_after,
        "created_before": created_before, "mode": mode, "limit": limit, "offset": offset,
        "sort_by": sort_by, "sort_order": sort_order,
        "tags": [t for item in tags for t in item.split(",")] if tags else None,
    }
    try:
        body = SearchRequest.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e.get("loc", ()))} for e in exc.errors(include_url=False)]
        ) from exc
    return await _service(request).search(body)


@router.get("/search/suggest", response_model=SuggestResponse, dependencies=[READERS],
            summary="Подсказки по именам файлов и тегам", operation_id="suggestFiles")
async def suggest(
    request: Request,
    prefix: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SuggestResponse:
    return await _service(request).suggest(prefix.strip() or prefix, limit)
