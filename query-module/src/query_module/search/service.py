"""Scatter-gather: запрос всем читаемым элементам параллельно, слияние по рангу или сортировке."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from artstore_common import ElementSearchPage, ProblemError, SearchRequest, StorageElement, Suggestion

from ..elements import Elements
from ..metrics import QueryMetrics
from .models import SearchResponse, SuggestResponse

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return _EPOCH
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return _EPOCH


def _sort_key(sort_by: str) -> Any:
    if sort_by == "created_at":
        return lambda r: _as_datetime(r.get("created_at"))
    if sort_by == "file_size":
        return lambda r: int(r.get("file_size") or 0)
    if sort_by == "name":
        return lambda r: str(r.get("original_filename") or "").casefold()
    # равный ранг (например, запрос без текста) — свежие выше
    return lambda r: (float(r.get("rank") or 0.0), _as_datetime(r.get("created_at")))


def merge(rows: list[dict[str, Any]], sort_by: str, sort_order: str) -> list[dict[str, Any]]:
    """Устойчивый порядок: сначала по file_id, затем (устойчивой) сортировкой по ключу — так же, как
    упорядочивает элемент (ключ, затем file_id). Релевантность — всегда от лучшего к худшему.

    Один файл — одна строка (docs/replication.md §4): реплицированный элемент отвечает одним членом, а
    во время переноса копия файла есть на двух элементах."""
    rows = sorted(rows, key=lambda r: str(r.get("file_id") or ""))
    rows.sort(key=_sort_key(sort_by), reverse=sort_by == "relevance" or sort_order == "desc")
    seen: set[str] = set()
    unique = []
    for row in rows:
        file_id = str(row.get("file_id") or "")
        if file_id and file_id in seen:
            continue
        seen.add(file_id)
        unique.append(row)
    return unique


class SearchService:
    def __init__(self, elements: Elements, metrics: QueryMetrics, max_window: int, page_limit: int = 1000) -> None:
        self.elements = elements
        self.page_limit = page_limit
        self.metrics = metrics
        self.max_window = max_window

    async def search(self, req: SearchRequest) -> SearchResponse:
        window = req.offset + req.limit
        if window > self.max_window:
            raise ProblemError(422, "validation_error",
                               f"offset + limit не больше {self.max_window}; уточните запрос или фильтры")
        self.metrics.stats.searches_total += 1
        live, down = self.elements.readable()
        client, timeout = self.elements.client, self.elements.timeout

        async def ask_page(el: StorageElement, offset: int, limit: int) -> ElementSearchPage:
            started = time.perf_counter()
            page = await client.search(el, req, offset=offset, limit=limit, timeout=timeout)
            self.metrics.search_duration.labels(el.id).observe(time.perf_counter() - started)
            return page

        async def ask(el: StorageElement) -> ElementSearchPage:
            # Каждому элементу — первые offset+limit строк (страница режется после слияния); элемент отдаёт
            # не больше page_limit строк за раз, глубокое окно добираем страницами.
            page = await ask_page(el, 0, min(window, self.page_limit))
            rows = list(page.results)
            while len(rows) < window and len(page.results) == self.page_limit:
                page = await ask_page(el, len(rows), min(window - len(rows), self.page_limit))
                rows += page.results
            return page.model_copy(update={"results": rows})

        answers, failed = await self.elements.fan_out(live, ask)
        rows: list[dict[str, Any]] = []
        total = 0
        lower_bound = False
        for element_id, data in answers.items():
            total += data.total_count
            lower_bound = lower_bound or data.total_is_lower_bound
            for row in data.results:
                if isinstance(row, dict):
                    row.setdefault("storage_element_id", element_id)
                    row["rank"] = float(row.get("rank") or 0.0)
                    rows.append(row)
        page = merge(rows, req.sort_by, req.sort_order)[req.offset:window]
        unavailable = sorted([*failed, *(e.id for e in down)])
        if unavailable:
            self.metrics.stats.errors_total += len(failed)
        return SearchResponse(
            results=page, total_count=total, limit=req.limit, offset=req.offset,
            has_more=req.offset + len(page) < total, partial=bool(unavailable),
            unavailable_storage_elements=unavailable, total_is_lower_bound=lower_bound,
        )

    async def suggest(self, prefix: str, limit: int) -> SuggestResponse:
        live, down = self.elements.readable()

        async def ask(el: StorageElement) -> list[Suggestion]:
            return await self.elements.client.suggest(el, prefix, limit, timeout=self.elements.timeout)

        answers, failed = await self.elements.fan_out(live, ask)
        best: dict[tuple[str, str], float] = {}
        order: dict[tuple[str, str], int] = {}
        for items in answers.values():
            for i, item in enumerate(items):
                key = (item.text, item.kind or "filename")
                score = float(item.score or 0.0)
                best[key] = max(best.get(key, score), score)
                order[key] = min(order.get(key, i), i)
        ranked = sorted(best, key=lambda k: (-best[k], order[k], k[0].casefold()))[:limit]
        unavailable = sorted([*failed, *(e.id for e in down)])
        return SuggestResponse(
            suggestions=[Suggestion(text=t, kind=k, score=best[(t, k)]) for t, k in ranked],
            partial=bool(unavailable), unavailable_storage_elements=unavailable,
        )
