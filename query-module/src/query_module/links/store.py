"""Ссылки в PostgreSQL (таблица ``query_links``): отзыв и счётчик скачиваний общие у всех реплик query.

Счётчик ``max_downloads`` считает отданные байты, а не запросы: докачка (``curl -C -``, браузер после
обрыва) просит остаток файла, и вместе с первой попыткой это один файл. Перед отдачей query резервирует
длину ответа одним ``UPDATE … WHERE bytes_reserved + n <= max_downloads * file_size`` (параллельные
запросы не проскочат лимит), после — возвращает неотданное. При обрыве query знает, сколько байт ушло
в сокет, но не сколько дошло: до нескольких МиБ остаются в буферах сети и теряются, а докачка попросит их
снова. Поэтому обрыв возвращает в лимит ещё до ``ABORT_SLACK`` байт — докачка не упрётся в лимит из-за
потерянного в пути. Упади query посреди отдачи — резерв останется потраченным.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from artstore_common import upgrade_schema

metadata = MetaData()
links = Table(
    "query_links", metadata,
    Column("id", String(32), primary_key=True),
    Column("file_id", String(64), nullable=False, index=True),
    Column("file_size", BigInteger, nullable=False),
    Column("owner_id", String(128), nullable=False, index=True),
    Column("owner_name", String(256), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("max_downloads", Integer),
    Column("uses", Integer, nullable=False, server_default="0"),
    Column("bytes_reserved", BigInteger, nullable=False, server_default="0"),
    Column("bytes_sent", BigInteger, nullable=False, server_default="0"),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", String(256)),
)

# Запас на обрыв: больше, чем держат буферы отправки и приёма TCP (Linux по умолчанию — до 4 + 6 МиБ).
ABORT_SLACK = 16 * 1024 * 1024

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


async def create_schema(engine: AsyncEngine) -> None:
    """Схема — миграциями Alembic со своей таблицей версий (база общая с admin и ingester)."""
    await upgrade_schema(engine, MIGRATIONS_DIR, lock="query-schema", version_table="query_alembic_version")


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Link:
    id: str
    file_id: str
    file_size: int
    owner_id: str
    owner_name: str
    created_at: datetime
    expires_at: datetime
    max_downloads: int | None
    uses: int
    bytes_reserved: int
    bytes_sent: int
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def exhausted(self) -> bool:
        if self.max_downloads is None:
            return False
        if self.file_size == 0:  # пустой файл: считаем запросы — байтов нет
            return self.uses >= self.max_downloads
        return self.bytes_reserved >= self.max_downloads * self.file_size

    def status(self, at: datetime | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= (at or now()):
            return "expired"
        return "exhausted" if self.exhausted else "active"

    def public(self) -> dict[str, Any]:
        downloads = self.bytes_sent // self.file_size if self.file_size else self.uses
        return {
            "id": self.id, "file_id": self.file_id, "owner_id": self.owner_id, "owner_name": self.owner_name,
            "created_at": self.created_at, "expires_at": self.expires_at, "max_downloads": self.max_downloads,
            "uses": self.uses, "bytes_sent": self.bytes_sent, "downloads": downloads,
            "last_used_at": self.last_used_at, "revoked_at": self.revoked_at, "revoked_by": self.revoked_by,
            "status": self.status(),
        }


def _link(row: Any) -> Link:
    return Link(**dict(row._mapping))


class LinkStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, link_id: str, file_id: str, file_size: int, owner_id: str, owner_name: str,
                     expires_at: datetime, max_downloads: int | None) -> Link:
        values = {"id": link_id, "file_id": file_id, "file_size": file_size, "owner_id": owner_id,
                  "owner_name": owner_name, "created_at": now(), "expires_at": expires_at,
                  "max_downloads": max_downloads}
        async with self.engine.begin() as conn:
            row = (await conn.execute(links.insert().values(**values).returning(*links.c))).one()
        return _link(row)

    async def get(self, link_id: str) -> Link | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(links).where(links.c.id == link_id))).one_or_none()
        return _link(row) if row is not None else None

    async def reserve(self, link_id: str, length: int) -> Link | None:
        """Засчитать запрос и зарезервировать ``length`` байт; None — ссылка отозвана или лимит исчерпан
        (причину вызывающий узнаёт по ``get``)."""
        c = links.c
        fits = or_(
            c.max_downloads.is_(None),
            and_(c.file_size == 0, c.uses < c.max_downloads),
            and_(c.file_size > 0, c.bytes_reserved + length <= c.max_downloads * c.file_size),
        )
        stmt = (update(links)
                .where(c.id == link_id, c.revoked_at.is_(None), fits)
                .values(uses=c.uses + 1, bytes_reserved=c.bytes_reserved + length, last_used_at=func.now())
                .returning(*links.c))
        async with self.engine.begin() as conn:
            row = (await conn.execute(stmt)).one_or_none()
        return _link(row) if row is not None else None

    async def settle(self, link_id: str, reserved: int, sent: int, *, aborted: bool) -> None:
        """Отдача закончилась: неотданное из резерва возвращается в лимит (при обрыве — с запасом)."""
        c = links.c
        counted = max(sent - ABORT_SLACK, 0) if aborted else sent
        refund = max(reserved - counted, 0)
        async with self.engine.begin() as conn:
            await conn.execute(update(links).where(c.id == link_id).values(
                bytes_reserved=c.bytes_reserved - refund, bytes_sent=c.bytes_sent + sent))

    async def revoke(self, link_id: str, by: str) -> Link | None:
        c = links.c
        async with self.engine.begin() as conn:
            await conn.execute(update(links).where(c.id == link_id, c.revoked_at.is_(None))
                               .values(revoked_at=func.now(), revoked_by=by))
            row = (await conn.execute(select(links).where(c.id == link_id))).one_or_none()
        return _link(row) if row is not None else None

    async def revoke_owner(self, owner_id: str, by: str) -> list[str]:
        """Отозвать все ещё действующие ссылки учётной записи; id отозванных."""
        c = links.c
        stmt = (update(links).where(c.owner_id == owner_id, c.revoked_at.is_(None), c.expires_at > func.now())
                .values(revoked_at=func.now(), revoked_by=by).returning(c.id))
        async with self.engine.begin() as conn:
            return sorted(str(r[0]) for r in await conn.execute(stmt))

    async def list(self, *, owner_id: str | None, file_id: str | None, active_only: bool,
                   limit: int, offset: int) -> tuple[list[Link], int]:
        c = links.c
        where = []
        if owner_id is not None:
            where.append(c.owner_id == owner_id)
        if file_id is not None:
            where.append(c.file_id == file_id)
        if active_only:
            where += [c.revoked_at.is_(None), c.expires_at > func.now()]
        async with self.engine.connect() as conn:
            total = int((await conn.execute(select(func.count()).select_from(links).where(*where))).scalar_one())
            rows = await conn.execute(select(links).where(*where).order_by(c.created_at.desc(), c.id)
                                      .limit(limit).offset(offset))
            return [_link(r) for r in rows], total
