"""PostgreSQL: асинхронный движок, сессия на запрос (коммит/откат в одном месте), advisory-lock."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def async_url(url: str) -> str:
    """``postgresql://`` → ``postgresql+asyncpg://`` (пользователи пишут привычный URL).

    Адрес из нескольких хостов в форме libpq (``postgresql://u@h1:5432,h2:5432/db?target_session_attrs=
    read-write``) переписывается в форму SQLAlchemy: ``?host=h1:5432&host=h2:5432`` — её диалект asyncpg
    передаёт драйверу списком хостов, а ``target_session_attrs`` — как есть. Так после переключения
    PostgreSQL новое соединение пула само находит хост, который принимает запись.
    """
    for prefix in ("postgresql://", "postgres://", "postgresql+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + _multihost_to_query(url[len(prefix):])
    return url


def _multihost_to_query(rest: str) -> str:
    netloc, _, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if "," not in hosts:
        return rest
    path, _, query = tail.partition("?")
    pairs = []
    for item in hosts.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not port.isdigit():
            # у asyncpg нет порта по умолчанию для списка хостов — пусть ошибка будет понятной сразу
            raise ValueError(f"адрес PostgreSQL: у хоста {item!r} нет порта; нужен список вида h1:5432,h2:5432")
        pairs.append(f"host={host}:{port}")
    query = "&".join([*pairs, *([query] if query else [])])
    return f"{userinfo}{at}/{path}?{query}"


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    return create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, echo=echo,
        connect_args={"server_settings": {"application_name": "artstore"}},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_scope(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Единица работы: коммит при успехе, откат при исключении. Сервисный код сам не коммитит."""
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def lock_key(name: str) -> int:
    """Стабильный 63-битный ключ advisory-lock из имени задачи."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


Executor = AsyncConnection | AsyncSession


async def xact_lock(executor: Executor, name: str) -> None:
    """Транзакционный advisory-lock: ждёт, пока замок свободен; снимается коммитом или откатом."""
    await executor.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(name)})


async def try_xact_lock(executor: Executor, name: str) -> bool:
    """Транзакционный advisory-lock без ожидания: ``False`` — замок держит другая транзакция (реплика)."""
    return bool((await executor.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                        {"k": lock_key(name)})).scalar())


async def try_lock(conn: AsyncConnection, name: str) -> bool:
    """Замок уровня сессии без ожидания: ``True`` — взяли; держится, пока не ``unlock`` или не закрыто соединение."""
    return bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(name)})).scalar())


async def wait_lock(conn: AsyncConnection, name: str) -> None:
    """Замок уровня сессии с ожиданием (вторая реплика ждёт, пока первая закончит)."""
    await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key(name)})


async def unlock(conn: AsyncConnection, name: str) -> None:
    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(name)})


@asynccontextmanager
async def advisory_lock(engine: AsyncEngine, name: str, *, wait: bool = False) -> AsyncIterator[bool]:
    """Advisory-lock уровня сессии на отдельном соединении, пока длится блок: ``True`` — мы лидер этой
    задачи, работаем (с ``wait=True`` — всегда, дождавшись своей очереди). Реплики делают работу один раз.
    """
    conn: AsyncConnection = await engine.connect()
    try:
        if wait:
            await wait_lock(conn, name)
            got = True
        else:
            got = await try_lock(conn, name)
        await conn.commit()
        try:
            yield got
        finally:
            if got:
                await unlock(conn, name)
                await conn.commit()
    finally:
        await conn.close()


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
