"""Запрос поиска: одна модель для клиента query-module и для каждого элемента, которому query пересылает
тот же запрос (scatter-gather). Раньше у каждой стороны была своя копия с разными пределами и проверками."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SearchMode = Literal["exact", "partial", "fulltext"]
SortBy = Literal["relevance", "created_at", "file_size", "name"]
SortOrder = Literal["asc", "desc"]
# глубже элемент не листает: OFFSET по ключам дорог, а человеку столько страниц не нужно
MAX_OFFSET = 100_000
MAX_PAGE = 1000


class SearchRequest(BaseModel):
    # Неизвестное поле — скорее опечатка клиента, чем намерение: лучше 422, чем молча пустой фильтр.
    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(None, max_length=1000, description="Текст: слова, \"фраза\", -исключение")
    filename: str | None = Field(None, max_length=500)
    tags: list[str] | None = Field(None, max_length=50)
    username: str | None = Field(None, max_length=200)
    content_type: str | None = Field(None, max_length=200)
    min_size: int | None = Field(None, ge=0, le=2**63 - 1)  # bigint PostgreSQL у элементов
    max_size: int | None = Field(None, ge=0, le=2**63 - 1)
    created_after: datetime | None = None
    created_before: datetime | None = None
    mode: SearchMode = "fulltext"
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    sort_by: SortBy = "relevance"
    sort_order: SortOrder = "desc"

    @field_validator("query", "filename", "username", "content_type")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v.strip() or None if v is not None else None

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        tags = [t.strip() for t in v if t and t.strip()]
        return tags or None

    @model_validator(mode="after")
    def _ranges(self) -> SearchRequest:
        if self.min_size is not None and self.max_size is not None and self.min_size > self.max_size:
            raise ValueError("min_size больше max_size")
        if self.created_after and self.created_before and self.created_after > self.created_before:
            raise ValueError("created_after позже created_before")
        return self

    def for_element(self, offset: int, limit: int) -> dict[str, Any]:
        """Тело запроса элементу: те же условия, своя страница (query режет итог уже после слияния)."""
        body = self.model_dump(mode="json", exclude_none=True)
        body["offset"] = offset
        body["limit"] = limit
        return body


class ElementSearchPage(BaseModel):
    """Ответ элемента на ``POST /api/v1/search``: строки attr.json с рангом."""

    results: list[dict[str, Any]]
    total_count: int = 0
    total_is_lower_bound: bool = False


class Suggestion(BaseModel):
    text: str
    kind: str = Field("filename", description="filename | tag")
    score: float | None = None
