"""Страница коллекции: ``{items, total, limit, offset}`` — одинаково во всех списках admin-module."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(BaseModel):
    limit: int
    offset: int


def _page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Размер страницы")] = 50,
    # верхняя граница — bigint PostgreSQL: больше — 422, а не ошибка драйвера
    offset: Annotated[int, Query(ge=0, le=2**63 - 1, description="Смещение от начала")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(_page_params)]


def like_pattern(text: str) -> str:
    """Подстрока для ILIKE: % и _ пользователя — буквальные символы, а не шаблон."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
