"""Кэш-таблица `{prefix}_files` в PostgreSQL: строки из attr.json, поиск и подсказки.

Таблица — только ускоритель: её можно удалить и пересобрать из attr.json (rebuild.py).
Поле search_vector генерируется самой СУБД, чтобы приложение не могло забыть его обновить.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from artstore_common import xact_lock

from .attrs import iso, parse_dt

T = TypeVar("T")
_CONFIGS = ("russian", "english", "simple")
_ATTR_COLS = (
    "file_id", "original_filename", "storage_filename", "storage_path", "file_size", "stored_size",
    "content_type", "checksum", "created_at", "updated_at", "created_by_id", "created_by_username",
    "description", "tags", "metadata", "retention_policy", "expires_at", "compression", "storage_element_id",
    "schema_version", "version",
)

# Столбцы строки, которые нужны для attr: без search_vector — он в разы шире остальной строки, и SELECT *
# гнал бы его (и разбор в Python) на каждое скачивание и каждый запрос метаданных.
_ROW_COLS = ", ".join((*_ATTR_COLS, "corrupted"))


def _vector(p: str) -> str:
    parts = []
    for cfg in _CONFIGS:
        parts.append(
            f"setweight(to_tsvector('{cfg}', translate(original_filename, '_.-', '   ')), 'A') || "
            f"setweight(to_tsvector('{cfg}', {p}_tags_text(tags)), 'A') || "
            f"setweight(to_tsvector('{cfg}', coalesce(description, '')), 'B') || "
            f"setweight(jsonb_to_tsvector('{cfg}', metadata, '[\"string\", \"numeric\"]'), 'C')"
        )
    return " || ".join(parts)


def folded(expr: str) -> str:
    """Форма строки для подсказок по префиксу: нижний регистр и ё → е (поиск к ё безразличен, подсказки тоже
    должны быть), побайтовый порядок (C) — диапазон префикса и ORDER BY идут по индексу. Одно выражение и
    для индексов, и для запроса: индекс по выражению используется, только если оно совпадает буквально."""
    return f"(translate(lower({expr}), 'ё', 'е') COLLATE \"C\")"


def ddl(table: str, prefix: str) -> list[str]:
    return [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        f"CREATE OR REPLACE FUNCTION {prefix}_tags_text(text[]) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE "
        "AS $$ SELECT coalesce(array_to_string($1, ' '), '') $$",
        f"""CREATE TABLE IF NOT EXISTS {table} (
            file_id text PRIMARY KEY,
            original_filename text NOT NULL,
            storage_filename text NOT NULL,
            storage_path text NOT NULL,
            file_size bigint NOT NULL,
            stored_size bigint NOT NULL,
            content_type text,
            checksum text NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz,
            created_by_id text,
            created_by_username text,
            description text,
            tags text[] NOT NULL DEFAULT '{{}}',
            metadata jsonb NOT NULL DEFAULT '{{}}',
            retention_policy text,
            expires_at timestamptz,
            compression jsonb,
            storage_element_id text,
            schema_version int,
            version int NOT NULL DEFAULT 1,
            corrupted boolean NOT NULL DEFAULT false,
            expiring_notified_at timestamptz,
            search_vector tsvector GENERATED ALWAYS AS ({_vector(prefix)}) STORED
        )""",
        # таблицы, созданные до версий attr.json (docs/replication.md §6): прежние строки — первая правка
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS version int NOT NULL DEFAULT 1",
        f"CREATE INDEX IF NOT EXISTS {table}_fts ON {table} USING gin (search_vector)",
        f"CREATE INDEX IF NOT EXISTS {table}_name_trgm ON {table} USING gin (original_filename gin_trgm_ops)",
        f"CREATE INDEX IF NOT EXISTS {table}_tags_trgm ON {table} USING gin ({prefix}_tags_text(tags) gin_trgm_ops)",
        f"CREATE INDEX IF NOT EXISTS {table}_tags ON {table} USING gin (tags)",
        f"CREATE INDEX IF NOT EXISTS {table}_name ON {table} (original_filename)",
        # Индексы подсказок по свёрнутой форме (folded). Прежние индексы по lower() без свёртки ё
        # (name_prefix, tag_dict_prefix) больше ничем не используются: таблицы, созданные до смены, теряют
        # их здесь же, при старте элемента (миграций у кэш-таблицы пока нет, DDL идемпотентен).
        f"DROP INDEX IF EXISTS {table}_name_prefix",
        f"CREATE INDEX IF NOT EXISTS {table}_name_fold ON {table} ({folded('original_filename')})",
        f"CREATE INDEX IF NOT EXISTS {table}_created ON {table} (created_at)",
        f"CREATE INDEX IF NOT EXISTS {table}_size ON {table} (file_size)",
        f"CREATE INDEX IF NOT EXISTS {table}_user ON {table} (created_by_username)",
        f"CREATE INDEX IF NOT EXISTS {table}_expires ON {table} (expires_at) WHERE expires_at IS NOT NULL",
        *_tag_dict_ddl(table, prefix),
    ]


def tag_dict(table: str) -> str:
    return f"{table}_tag_dict"


def _tag_dict_ddl(table: str, prefix: str) -> list[str]:
    """Словарь тегов элемента (тег → число файлов), который ведут триггеры таблицы файлов.

    Подсказка тегов по самой таблице файлов упиралась в частые теги: префикс «фин» — это битовая карта
    триграмм по каждому шестому файлу (8 мс на элемент при 333 тыс. строк) ради одного-двух различных
    тегов. Словарь мал (различных тегов — единицы тысяч), и префикс ищется по btree за доли миллисекунды.
    """
    d = tag_dict(table)
    return [
        f"CREATE TABLE IF NOT EXISTS {d} (tag text PRIMARY KEY, files bigint NOT NULL)",
        f"DROP INDEX IF EXISTS {d}_prefix",
        f"CREATE INDEX IF NOT EXISTS {d}_fold ON {d} ({folded('tag')})",
        # Триггеры уровня оператора с таблицами переходов: одна агрегированная правка словаря на оператор.
        # Построчный триггер правил бы одну и ту же строку частого тега на каждой вставленной строке, и в
        # одной транзакции на сотню тысяч строк (пересборка, массовая загрузка) цепочка версий этой строки
        # делала вставку квадратичной.
        f"""CREATE OR REPLACE FUNCTION {prefix}_tag_dict_ins() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO {d} AS x (tag, files)
            SELECT t, count(*) FROM new_rows, LATERAL (SELECT DISTINCT unnest(new_rows.tags) AS t) u GROUP BY t
            ON CONFLICT (tag) DO UPDATE SET files = x.files + EXCLUDED.files;
            RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION {prefix}_tag_dict_del() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE {d} AS x SET files = x.files - c.n
            FROM (SELECT t, count(*) AS n FROM old_rows, LATERAL (SELECT DISTINCT unnest(old_rows.tags) AS t) u
                  GROUP BY t) c
            WHERE x.tag = c.t;
            DELETE FROM {d} WHERE files <= 0;
            RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION {prefix}_tag_dict_upd() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            WITH changed AS (
                SELECT o.tags AS before, n.tags AS after FROM old_rows o JOIN new_rows n USING (file_id)
                WHERE o.tags IS DISTINCT FROM n.tags
            ), delta AS (
                SELECT t, sum(n) AS n FROM (
                    SELECT t, -1 AS n FROM changed, LATERAL (SELECT DISTINCT unnest(before) AS t) u
                    UNION ALL
                    SELECT t, 1 AS n FROM changed, LATERAL (SELECT DISTINCT unnest(after) AS t) u
                ) z GROUP BY t HAVING sum(n) <> 0
            )
            INSERT INTO {d} AS x (tag, files) SELECT t, n FROM delta
            ON CONFLICT (tag) DO UPDATE SET files = x.files + EXCLUDED.files;
            DELETE FROM {d} WHERE files <= 0;
            RETURN NULL;
        END $$""",
        f"CREATE OR REPLACE TRIGGER {prefix}_tag_dict_ins AFTER INSERT ON {table} "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {prefix}_tag_dict_ins()",
        f"CREATE OR REPLACE TRIGGER {prefix}_tag_dict_del AFTER DELETE ON {table} "
        f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {prefix}_tag_dict_del()",
        f"CREATE OR REPLACE TRIGGER {prefix}_tag_dict_upd AFTER UPDATE ON {table} "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {prefix}_tag_dict_upd()",
    ]


def row_params(attr: dict[str, Any], stored_size: int | None = None) -> dict[str, Any]:
    comp = attr.get("compression")
    return {
        **{k: attr.get(k) for k in _ATTR_COLS},
        "stored_size": stored_size if stored_size is not None else
        (comp or {}).get("stored_size", attr.get("file_size", 0)),
        "created_at": parse_dt(attr.get("created_at")),
        "updated_at": parse_dt(attr.get("updated_at")),
        "expires_at": parse_dt(attr.get("expires_at")),
        "tags": list(attr.get("tags") or []),
        "metadata": json.dumps(attr.get("metadata") or {}, ensure_ascii=False),
        "compression": json.dumps(comp) if comp else None,
        "version": int(attr.get("version") or 1),
    }


def row_to_attr(row: Any) -> dict[str, Any]:
    m = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    out: dict[str, Any] = {
        k: m.get(k) for k in _ATTR_COLS if k not in ("stored_size",)
    }
    for k in ("created_at", "updated_at", "expires_at"):
        out[k] = iso(m.get(k))
    for k in ("metadata", "compression"):
        if isinstance(out.get(k), str):
            out[k] = json.loads(out[k])
    out["tags"] = list(out.get("tags") or [])
    if "rank" in m:
        out["rank"] = float(m["rank"] or 0.0)
    return out


async def _no_reset(_conn: asyncpg.Connection) -> None:
    return None


# Строки файлов в памяти процесса (LRU): скачивание и метаданные не ходят в PostgreSQL за строкой,
# прочитанной недавно (запрос строки — 0,2–0,25 мс CPU элемента на этой машине плюс обмен с СУБД).
# Таблицу меняет только этот процесс (docs/architecture.md §3.5: элемент владеет своей кэш-таблицей), и каждая
# правка через Cache выбрасывает строку из памяти после фиксации.
ROW_CACHE_SIZE = 4096
# Обрыв соединения с СУБД (её переключение, рестарт) — не ошибка запроса: пауза и повтор на новом соединении
# (InternalClientError — соединение пула, чью операцию оборвал разрыв: «another operation is in progress»)
CONNECTION_ERRORS = (asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.exceptions.InterfaceError,
                     asyncpg.exceptions.CannotConnectNowError, asyncpg.exceptions.PostgresConnectionError,
                     asyncpg.exceptions.InternalClientError, ConnectionError, OSError)
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0)


class Cache:
    """Горячий путь (поиск строки по id, вставка после записи) идёт прямо через пул asyncpg:
    без pre-ping и транзакции SQLAlchemy это один обмен с СУБД вместо четырёх, а вставки
    одновременных загрузок собираются в одну пачку (групповая фиксация, как у WAL).
    Остальное — через движок SQLAlchemy из общей библиотеки."""

    def __init__(self, engine: AsyncEngine, table: str, prefix: str) -> None:
        self.engine = engine
        self.table = table
        self.prefix = prefix
        self.pool: asyncpg.Pool | None = None
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._rows: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # file_id → сколько чтений из СУБД сейчас в пути; правка во время чтения помечает его, и
        # прочитанное (возможно, до фиксации правки) в память не кладётся
        self._loading: dict[str, int] = {}
        self._raced: set[str] = set()
        numbered = ", ".join(
            f"${i}::jsonb" if c in ("metadata", "compression") else f"${i}::text[]" if c == "tags" else f"${i}"
            for i, c in enumerate(_ATTR_COLS, 1)
        )
        conflict = ", ".join(f"{c} = EXCLUDED.{c}" for c in _ATTR_COLS if c != "file_id")
        self._upsert_pg = (f"INSERT INTO {table} ({', '.join(_ATTR_COLS)}) VALUES ({numbered}) "
                           f"ON CONFLICT (file_id) DO UPDATE SET {conflict}")
        cols = ", ".join(_ATTR_COLS)
        vals = ", ".join(
            f"CAST(:{c} AS jsonb)" if c in ("metadata", "compression") else
            f"CAST(:{c} AS text[])" if c == "tags" else f":{c}" for c in _ATTR_COLS
        )
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _ATTR_COLS if c != "file_id")
        self._upsert = text(
            f"INSERT INTO {table} ({cols}) VALUES ({vals}) ON CONFLICT (file_id) DO UPDATE SET {updates}")

    def forget(self, *file_ids: str) -> None:
        """Выбросить строки из памяти (после фиксации правки в СУБД); без аргументов — все."""
        if not file_ids:
            self._rows.clear()
            self._raced.update(self._loading)
            return
        for file_id in file_ids:
            self._rows.pop(file_id, None)
            if file_id in self._loading:
                self._raced.add(file_id)

    async def create(self) -> None:
        self.forget()
        async with self.engine.begin() as conn:
            # элементы делят базу: создание расширения и функций сериализуем замком на транзакцию
            await xact_lock(conn, "storage-element:cache-schema")
            fresh = (await conn.execute(text(
                "SELECT to_regclass(:t) IS NULL OR to_regclass(:d) IS NULL"),
                {"t": self.table, "d": tag_dict(self.table)})).scalar()
            for stmt in ddl(self.table, self.prefix):
                await conn.execute(text(stmt))
            if fresh:
                # словарь только что создан (обновление со старой версии) или таблицу файлов пересоздали
                # (пересборка кэша): счёт заново по тому, что есть, в той же транзакции, что и триггеры
                d = tag_dict(self.table)
                await conn.execute(text(f"DELETE FROM {d}"))
                await conn.execute(text(
                    f"INSERT INTO {d} (tag, files) SELECT t, count(*) FROM {self.table}, "
                    "LATERAL (SELECT DISTINCT unnest(tags) AS t) u GROUP BY t"))

    async def start(self, dsn: str) -> None:
        # reset по умолчанию — лишний обмен с СУБД при каждом возврате соединения; мы не меняем
        # состояние сеанса (ни SET, ни LISTEN, ни advisory-замков на этом пуле), сбрасывать нечего
        self.pool = await asyncpg.create_pool(dsn.replace("postgresql+asyncpg://", "postgresql://"), min_size=1,
                                              max_size=8, server_settings={"application_name": "artstore-se"},
                                              reset=_no_reset)

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self.pool is not None:
            await self.pool.close()

    async def upsert(self, attr: dict[str, Any], stored_size: int | None = None) -> None:
        params = row_params(attr, stored_size)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((tuple(params[c] for c in _ATTR_COLS), fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        await fut

    async def _on_pool(self, op: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Запрос горячего пути через пул; соединение, оборванное переключением PostgreSQL (promote standby,
        рестарт), — повтор на свежем соединении пула. Повторяются только идемпотентные запросы: чтение строки
        и вставка строки по file_id (данные файла к этому моменту уже на диске)."""
        assert self.pool is not None
        for attempt in range(len(RECONNECT_DELAYS) + 1):
            try:
                async with self.pool.acquire() as conn:
                    return await op(conn)
            except CONNECTION_ERRORS:
                if attempt == len(RECONNECT_DELAYS):
                    raise
                await asyncio.sleep(RECONNECT_DELAYS[attempt])
        raise AssertionError("недостижимо")

    async def _fetch_row(self, file_id: str) -> Any:
        """Строка по id прямо через пул (один обмен с СУБД); обрыв соединения — повтор, как у вставки."""
        assert self.pool is not None
        sql = f"SELECT {_ROW_COLS} FROM {self.table} WHERE file_id = $1"
        for attempt in range(len(RECONNECT_DELAYS) + 1):
            try:
                return await self.pool.fetchrow(sql, file_id)
            except CONNECTION_ERRORS:
                if attempt == len(RECONNECT_DELAYS):
                    raise
                await asyncio.sleep(RECONNECT_DELAYS[attempt])
        raise AssertionError("недостижимо")

    async def _executemany(self, rows: list[tuple[Any, ...]]) -> None:
        await self._on_pool(lambda conn: conn.executemany(self._upsert_pg, rows))

    async def _flush(self) -> None:
        assert self.pool is not None
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._executemany([p for p, _ in batch])
                self.forget(*(p[0] for p, _ in batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
            except Exception:
                # одна плохая строка не должна валить соседей по пачке: повторяем по одной
                for params, fut in batch:
                    try:
                        async with self.pool.acquire() as conn:
                            await conn.execute(self._upsert_pg, *params)
                        self.forget(params[0])
                        if not fut.done():
                            fut.set_result(None)
                    except Exception as exc:
                        if not fut.done():
                            fut.set_exception(exc)

    async def upsert_many(self, attrs: list[dict[str, Any]]) -> None:
        if attrs:
            async with self.engine.begin() as conn:
                await conn.execute(self._upsert, [row_params(a) for a in attrs])
            self.forget(*(str(a["file_id"]) for a in attrs))

    async def get(self, file_id: str) -> dict[str, Any] | None:
        cached = self._rows.get(file_id)
        if cached is not None:
            self._rows.move_to_end(file_id)
            return dict(cached)  # вызывающие правят словарь у себя — память остаётся как в СУБД
        assert self.pool is not None
        self._loading[file_id] = self._loading.get(file_id, 0) + 1
        try:
            row = await self._fetch_row(file_id)
        finally:
            left = self._loading[file_id] - 1
            if left:
                self._loading[file_id] = left
            else:
                del self._loading[file_id]
            raced = file_id in self._raced
            if not left:
                self._raced.discard(file_id)
        if row is None:
            return None  # отсутствие не запоминаем: новый файл появится без всякой правки через forget
        attr = row_to_attr(row)
        attr["_corrupted"] = bool(row["corrupted"])
        attr["_stored_size"] = int(row["stored_size"])
        if not raced:
            self._rows[file_id] = attr
            if len(self._rows) > ROW_CACHE_SIZE:
                self._rows.popitem(last=False)
            return dict(attr)
        return attr

    async def delete(self, file_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {self.table} WHERE file_id = :f"), {"f": file_id})
        self.forget(file_id)

    async def inventory(self, after: str, limit: int) -> list[dict[str, Any]]:
        """Страница описи для соседей-членов (docs/replication.md §5): по возрастанию file_id, по индексу PK."""
        assert self.pool is not None
        rows = await self.pool.fetch(
            f"SELECT file_id, checksum, version, file_size, updated_at, corrupted FROM {self.table} "
            "WHERE file_id > $1 ORDER BY file_id LIMIT $2", after, limit)
        return [{"file_id": r["file_id"], "checksum": r["checksum"], "version": int(r["version"]),
                 "file_size": int(r["file_size"]), "updated_at": iso(r["updated_at"]), "deleted": False,
                 "corrupted": bool(r["corrupted"])} for r in rows]

    async def totals(self) -> tuple[int, int]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(text(f"SELECT count(*), coalesce(sum(stored_size), 0) FROM {self.table}"))).one()
        return int(row[0]), int(row[1])

    async def expiring_count(self, days: int) -> int:
        """Сколько файлов истекает в ближайшие ``days`` дней (индекс по expires_at)."""
        sql = (f"SELECT count(*) FROM {self.table} WHERE expires_at > now() "
               "AND expires_at <= now() + make_interval(days => :d)")
        async with self.engine.connect() as conn:
            return int((await conn.execute(text(sql), {"d": days})).scalar_one())

    async def set_corrupted(self, file_id: str, value: bool) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(f"UPDATE {self.table} SET corrupted = :v WHERE file_id = :f"),
                               {"v": value, "f": file_id})
        self.forget(file_id)

    async def all_paths(self) -> dict[str, tuple[str, str, int]]:
        """file_id → (storage_path, checksum, file_size) — для сверки с файлами."""
        async with self.engine.connect() as conn:
            rows = await conn.stream(text(f"SELECT file_id, storage_path, checksum, file_size FROM {self.table}"))
            return {r[0]: (r[1], r[2], int(r[3])) async for r in rows}

    async def delete_many(self, file_ids: list[str]) -> None:
        if file_ids:
            async with self.engine.begin() as conn:
                await conn.execute(text(f"DELETE FROM {self.table} WHERE file_id = ANY(:ids)"), {"ids": file_ids})
            self.forget(*file_ids)

    async def expiring(self, until: datetime, limit: int = 1000) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text(
                f"SELECT {_ROW_COLS} FROM {self.table} WHERE expires_at IS NOT NULL AND expires_at <= :u "
                "AND expiring_notified_at IS NULL ORDER BY expires_at LIMIT :l"), {"u": until, "l": limit})).all()
        return [row_to_attr(r) for r in rows]

    async def mark_notified(self, file_ids: list[str], when: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(f"UPDATE {self.table} SET expiring_notified_at = :w WHERE file_id = ANY(:ids)"),
                               {"w": when, "ids": file_ids})

    async def expired_temporary(self, now: datetime, limit: int = 1000) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text(
                f"SELECT {_ROW_COLS} FROM {self.table} WHERE expires_at IS NOT NULL AND expires_at <= :n "
                "AND retention_policy = 'temporary' ORDER BY expires_at LIMIT :l"), {"n": now, "l": limit})).all()
        return [row_to_attr(r) for r in rows]
