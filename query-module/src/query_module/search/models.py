"""Схемы запроса и ответа поиска; тот же запрос уходит элементам (контракт docs/internal-api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SearchMode = Literal["exact", "partial", "fulltext"]
SortBy = Literal["relevance", "created_at", "file_size", "name"]
SortOrder = Literal["asc", "desc"]


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
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0)
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

    def for_element(self, window: int) -> dict[str, Any]:
        """Каждому элементу — первые offset+limit строк: страница режется уже после слияния."""
        body = self.model_dump(mode="json", exclude_none=True)
        body["limit"] = window
        body["offset"] = 0
        return body


class SearchResponse(BaseModel):
    results: list[dict[str, Any]] = Field(description="Поля attr.json + storage_element_id + rank")
    total_count: int
    limit: int
    offset: int
    has_more: bool
    partial: bool = Field(description="true — часть элементов не ответила, результаты неполные")
    unavailable_storage_elements: list[str]
    total_is_lower_bound: bool = Field(False, description="true — элемент посчитал совпадения лишь до потолка")


class Suggestion(BaseModel):
    text: str
    kind: str
    score: float | None = None


class SuggestResponse(BaseModel):
    suggestions: list[Suggestion]
    partial: bool = False
    unavailable_storage_elements: list[str] = Field(default_factory=list)
