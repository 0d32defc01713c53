"""Схемы ответа поиска query-module. Запрос (``SearchRequest``) — общий с элементами, в ``artstore_common``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

from artstore_common import Suggestion


class SearchResponse(BaseModel):
    # Строки элементов отдаются как пришли (до 1000 на страницу — без пересборки моделью); в схеме — FileRecord,
    # её кладёт в components маршрут метаданных (files/routes.py), клиент по OpenAPI получает типы.
    results: Annotated[list[dict[str, Any]], WithJsonSchema(
        {"type": "array", "items": {"$ref": "#/components/schemas/FileRecord"}})] = Field(
        description="Поля attr.json + storage_element_id + rank")
    total_count: int
    limit: int
    offset: int
    has_more: bool
    partial: bool = Field(description="true — часть элементов не ответила, результаты неполные")
    unavailable_storage_elements: list[str]
    total_is_lower_bound: bool = Field(False, description="true — элемент посчитал совпадения лишь до потолка")


class SuggestResponse(BaseModel):
    suggestions: list[Suggestion]
    partial: bool = False
    unavailable_storage_elements: list[str] = Field(default_factory=list)
