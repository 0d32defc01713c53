"""Поиск по кэш-таблице элемента: полнотекстовый (russian+english+simple), по имени, подсказки.

Всё идёт через индексы: GIN по tsvector, pg_trgm по имени и тегам, btree по дате, размеру, автору.
Общее число считается с потолком — на миллионе строк точный count(*) дороже самой выдачи.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from artstore_common import SearchRequest

from .cache import folded, row_to_attr, tag_dict

# Потолок 1000, а не 2000: на миллионе строк подсчёт и ранжирование кандидатов — это обход кучи по
# строке на страницу, и вдвое меньший потолок вдвое дешевле (широкий запрос 18 → 11 мс на элемент);
# клиенту «1000+ совпадений» говорит столько же, сколько «2000+».
COUNT_CAP = 1_000
# ранжирование — по первым кандидатам: ts_rank по сотне тысяч совпадений «отчёт» стоит секунды,
# а выдача по широкому запросу всё равно уточняется фильтрами; точность ранга ниже потолка не страдает
RANK_CANDIDATES = 1_000
_TSQ = ("(websearch_to_tsquery('russian', :q) || websearch_to_tsquery('english', :q) "
        "|| websearch_to_tsquery('simple', :q))")


def like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Фраза в кавычках — это «слово <-> слово» в каждой из трёх конфигураций, объединённые через OR. GIN
# не умеет пропускать записи по OR из фраз: он проходит объединение списков всех лексем (на 333 тыс.
# строк «"служебная записка"» — 19–20 мс только на индекс против 4–5 мс на одну конфигурацию). Каждая
# фраза отдельным условием даёт BitmapOr из узких проходов по индексу: 31 → 20 мс на запрос элемента.
# Части (без повторов: english и simple для кириллицы совпадают) PostgreSQL разбирает заранее одним
# коротким запросом и получает их константами — и в общем, и в частном плане запроса разбор не
# повторяется на каждой строке кучи. Для слов и исключений без кавычек один общий tsquery быстрее
# (на «invoice -budget» раздельные проходы медленнее: 22 против 19 мс) — он и остаётся.
_PARTS_SQL = text("SELECT websearch_to_tsquery('russian', :q)::text, websearch_to_tsquery('english', :q)::text, "
                  "websearch_to_tsquery('simple', :q)::text")


async def phrase_parts(conn: AsyncConnection, req: SearchRequest) -> list[str]:
    """Различные непустые tsquery трёх конфигураций для запроса с фразой; [] — запрос не фразовый."""
    q = (req.query or "").strip()
    if req.mode != "fulltext" or '"' not in q:
        return []
    row = (await conn.execute(_PARTS_SQL, {"q": q})).one()
    return list(dict.fromkeys(p for p in row if p))


def build_where(req: SearchRequest, prefix: str, parts: list[str] | None = None
                ) -> tuple[list[str], dict[str, Any], bool]:
    where: list[str] = []
    params: dict[str, Any] = {}
    ranked = False
    q = (req.query or "").strip()
    if q:
        if req.mode == "fulltext" and parts:
            where.append("(" + " OR ".join(f"search_vector @@ CAST(:tq{i} AS tsquery)" for i in range(len(parts)))
                         + ")")
            params.update({f"tq{i}": p for i, p in enumerate(parts)})
            ranked = True
        elif req.mode == "fulltext":
            where.append(f"search_vector @@ {_TSQ}")
            params["q"] = q
            ranked = True
        elif req.mode == "partial":
            where.append("original_filename ILIKE :q_like")
            params["q_like"] = f"%{like_escape(q)}%"
        else:
            where.append("original_filename = :q_exact")
            params["q_exact"] = q
    if req.filename:
        if req.mode == "exact":
            where.append("original_filename = :fn")
            params["fn"] = req.filename
        else:
            where.append("original_filename ILIKE :fn_like")
            params["fn_like"] = f"%{like_escape(req.filename)}%"
    if req.tags:
        where.append("tags @> CAST(:tags AS text[])")
        params["tags"] = list(req.tags)
    for field, col, op in (
        ("username", "created_by_username", "="), ("content_type", "content_type", "="),
        ("min_size", "file_size", ">="), ("max_size", "file_size", "<="),
        ("created_after", "created_at", ">="), ("created_before", "created_at", "<="),
    ):
        value = getattr(req, field)
        if value is not None and value != "":
            where.append(f"{col} {op} :{field}")
            params[field] = value
    return where, params, ranked


_SORT_COLUMN = {"created_at": "created_at", "file_size": "file_size", "name": "original_filename"}


def order_by(req: SearchRequest, ranked: bool) -> str:
    direction = "ASC" if req.sort_order == "asc" else "DESC"
    if req.sort_by == "relevance":
        return "rank DESC, created_at DESC, file_id" if ranked else "created_at DESC, file_id"
    col = _SORT_COLUMN[req.sort_by]
    return f"{col} {direction}, file_id"


@asynccontextmanager
async def _snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            yield conn


async def search(engine: AsyncEngine, table: str, prefix: str, req: SearchRequest) -> dict[str, Any]:
    async with _snapshot(engine) as conn:
        return await _search(conn, table, prefix, req, await phrase_parts(conn, req))


async def _search(conn: AsyncConnection, table: str, prefix: str, req: SearchRequest,
                  parts: list[str]) -> dict[str, Any]:
    where, params, ranked = build_where(req, prefix, parts)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    tsq_all = " || ".join(f"CAST(:tq{i} AS tsquery)" for i in range(len(parts))) if parts else _TSQ
    rank = f"ts_rank(search_vector, {tsq_all})" if ranked else "0.0"
    cols = ("file_id, original_filename, storage_filename, storage_path, file_size, content_type, checksum, "
            "created_at, updated_at, created_by_id, created_by_username, description, tags, metadata, "
            "retention_policy, expires_at, compression, storage_element_id, schema_version")
    bind = {**params, "limit": req.limit, "offset": req.offset}
    if ranked and req.sort_by == "relevance":
        cap = max(RANK_CANDIDATES, req.offset + req.limit)
        # число совпадений (с потолком) считаем по тем же кандидатам окном count(*) OVER ():
        # отдельный count повторял бы построение битовой карты GIN — вторая половина времени запроса
        sql = (f"SELECT {cols}, {rank} AS rank, count(*) OVER () AS _n "
               f"FROM (SELECT * FROM {table} {clause} LIMIT {cap + 1}) c "
               f"ORDER BY {order_by(req, ranked)} LIMIT :limit OFFSET :offset")
        await _prefer_gin(conn)
        rows = (await conn.execute(text(sql), bind)).all()
        total = await _total(conn, rows, req, f"SELECT 1 FROM {table} {clause} LIMIT {cap + 1}", params)
        return _answer(rows, total, cap)
    # Сначала — ключи совпадений одним узким проходом (file_id и столбец сортировки), с числом их окном.
    # Уложились в потолок (частый случай точного поиска: имя, тег, автор) — порядок точен, число точное,
    # и полные строки (с рангом) нужны только для страницы: выборка по первичному ключу. Не уложились —
    # точную страницу даёт упорядоченный запрос, число — потолок с признаком «не меньше».
    # Полнотекстовый запрос с сортировкой не по релевантности проходит ключи сразу упорядоченно (до
    # потолка или до конца страницы): страница из прохода точна при любом числе совпадений, второй
    # запрос не нужен, а планировщик, зная частоту слова по статистике tsvector, сам выбирает обход
    # индекса сортировки для частых слов: «баланс» с фильтром и сортировкой по размеру на 333 тыс. строк
    # — 6,6 мс вместо 9,8 + 0,5 (битовая карта GIN по всем 32 тыс. совпадений и ещё один запрос). Для
    # остальных фильтров (ILIKE по имени, теги) проход остаётся без ORDER BY: оценка числа совпадений
    # у ILIKE грубая, и с ORDER BY планировщик в одном из прогонов пошёл обходом индекса даты с фильтром
    # по имени — 400 мс вместо 7 мс на «протокол_budget». Фраза — тоже без ORDER BY: частоту фразы
    # статистика tsvector не знает, и «"служебная записка"» с сортировкой по дате шла обходом индекса
    # даты по всей таблице — 620–680 мс вместо ~25 мс (333 тыс. строк на элемент).
    order = order_by(req, ranked)
    key = _SORT_COLUMN.get(req.sort_by, "created_at")
    ordered_pass = ranked and not parts
    keys_limit = max(COUNT_CAP, req.offset + req.limit) + 1 if ordered_pass else COUNT_CAP + 1
    inner_order = f" ORDER BY {order}" if ordered_pass else ""
    keys_sql = (f"SELECT file_id, count(*) OVER () AS _n FROM ("
                f"SELECT file_id, {key} FROM {table} {clause}{inner_order} LIMIT {keys_limit}) s "
                f"ORDER BY {order} LIMIT :limit OFFSET :offset")
    page_sql = f"SELECT {cols}, {rank} AS rank FROM {table} WHERE file_id = ANY(:ids)"
    sql = f"SELECT {cols}, {rank} AS rank FROM {table} {clause} ORDER BY {order} LIMIT :limit OFFSET :offset"
    # ключи и строки страницы — из одного снимка (транзакция search): иначе удаление между запросами
    # укоротило бы страницу, а query-module по короткой странице решил бы, что дальше строк нет
    if ranked:
        await _prefer_gin(conn, phrase=bool(parts))
    found = (await conn.execute(text(keys_sql), bind)).all()
    total = await _total(conn, found, req, f"SELECT 1 FROM {table} {clause} LIMIT {COUNT_CAP + 1}", params)
    if total > COUNT_CAP and not ordered_pass:
        rows = list((await conn.execute(text(sql), bind)).all())
    elif found:
        ids = [r[0] for r in found]
        by_id = {r._mapping["file_id"]: r for r in
                 (await conn.execute(text(page_sql), {**params, "ids": ids})).all()}
        rows = [by_id[i] for i in ids if i in by_id]
    else:
        rows = []
    return _answer(rows, total, COUNT_CAP)


async def _prefer_gin(conn: AsyncConnection, *, phrase: bool = False) -> None:
    # с LIMIT планировщик, переоценив число совпадений, выбирает полный проход вместо GIN; в пределах
    # транзакции запрещаем его; jit на таких оценках стоимости — только лишняя компиляция. Для фразы
    # запрещаем и обход индекса сортировки с проверкой каждой строки (см. search): только GIN и сортировка
    no_index_walk = ", set_config('enable_indexscan', 'off', true)" if phrase else ""
    await conn.execute(text("SELECT set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)"
                            + no_index_walk))


async def _total(conn: AsyncConnection, rows: Any, req: SearchRequest, capped_sql: str,
                 params: dict[str, Any]) -> int:
    """Число совпадений (с потолком): из окна count(*) OVER () в строках; страница за пределами выборки
    пуста — тогда отдельным подсчётом, оно всё же нужно для has_more."""
    if rows:
        return int(rows[0]._mapping["_n"])
    if req.offset == 0:
        return 0
    return int((await conn.execute(text(f"SELECT count(*) FROM ({capped_sql}) s"), params)).scalar() or 0)


def _answer(rows: Any, total: int, cap: int) -> dict[str, Any]:
    return {"results": [row_to_attr(r) for r in rows], "total_count": min(total, cap),
            "total_is_lower_bound": total > cap}


def _fold(text: str) -> str:
    """То же, что cache.folded в СУБД: для порядка подсказок здесь."""
    return text.lower().replace("ё", "е")


async def suggest(engine: AsyncEngine, table: str, prefix: str, text_prefix: str, limit: int) -> dict[str, Any]:
    p = text_prefix.strip()
    if not p:
        return {"suggestions": []}
    # имена: префикс по индексу свёрнутой формы (регистр и ё не важны) — быстро при любом числе совпадений;
    # префикс сворачивается тем же выражением, что и хранимое, иначе «отчё» не нашёл бы «отчет»
    name, tag, fp = folded("original_filename"), folded("tag"), folded("CAST(:p AS text)")
    names_sql = text(
        f"SELECT original_filename AS t, similarity({name}, {fp}) AS s FROM {table} "
        f"WHERE {name} >= {fp} AND {name} < ({fp} || chr(1114111)) ORDER BY {name} LIMIT :lim"
    )
    # теги — из словаря тегов элемента (ведут триггеры таблицы файлов), префикс по тому же правилу, что и
    # у имён; по самой таблице частый префикс стоил битовой карты триграмм по десяткам тысяч строк
    tags_sql = text(
        f"SELECT tag AS t, similarity({tag}, {fp}) AS s FROM {tag_dict(table)} "
        f"WHERE {tag} >= {fp} AND {tag} < ({fp} || chr(1114111)) ORDER BY s DESC, tag LIMIT :lim"
    )
    params = {"p": p, "lim": limit}
    async with engine.connect() as conn:
        names = (await conn.execute(names_sql, params)).all()
        tags = (await conn.execute(tags_sql, params)).all()
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for kind, rows in (("filename", names), ("tag", tags)):
        for t, s in rows:
            if (kind, t) not in seen:
                seen.add((kind, t))
                out.append({"text": t, "kind": kind, "score": round(float(s or 0), 4)})
    head = _fold(p)
    out.sort(key=lambda x: (not _fold(x["text"]).startswith(head), -x["score"]))
    return {"suggestions": out[:limit]}
