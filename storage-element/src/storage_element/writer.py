"""Протокол записи (docs/architecture.md §3.3): намерение в WAL → данные во временный файл + fsync →
attr.json temp + fsync → переименования → fsync(каталога) → строка кэша → фиксация в WAL → 201.

Подтверждённая загрузка не теряется (всё устойчиво до ответа), частичная не видна (до переименования
её нет в дереве данных, а восстановление по WAL доводит или откатывает каждую операцию).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from artstore_common import FileMeta, ProblemError

from . import attrs, modes
from .backends.base import WRITE_BATCH
from .codec import WriteCodec
from .element import Element
from .layout import make_key, valid_key

_log = logging.getLogger("storage_element.writer")
DEFAULT_TTL_DAYS = 30
# id операции WAL: префикс процесса + счётчик — уникален в пределах элемента и не тратит getrandom на запрос
_OP_PREFIX = uuid.uuid4().hex[:12]
_op_counter = itertools.count(1)


def new_op_id() -> str:
    return f"{_OP_PREFIX}{next(_op_counter):012x}"


def expires_for(el: Element, meta: FileMeta, now: Any) -> Any:
    if meta.expires_at is not None:
        return attrs.parse_dt(meta.expires_at)
    if meta.retention_policy == "temporary":
        return now + timedelta(days=meta.ttl_days or DEFAULT_TTL_DAYS)
    days = el.settings.retention_days
    return now + timedelta(days=days) if days > 0 else None


def insufficient(el: Element, need: int | None) -> ProblemError:
    free = el.free_for_write()
    what = f"файл {need} байт" if need is not None else "файл"
    return ProblemError(
        507, "insufficient_storage",
        f"на элементе {el.settings.element_id} нет места: {what}, свободно {free} байт; выберите другой элемент",
        extra={"free_bytes": free, "storage_element_id": el.settings.element_id},
    )


async def _hash_only(chunks: AsyncIterator[bytes]) -> str:
    h = hashlib.sha256()
    async for c in chunks:
        h.update(c)
    return h.hexdigest()


async def store(el: Element, file_id: str, meta: FileMeta, chunks: AsyncIterator[bytes],
                content_length: int | None, expected_sha: str | None, *, copy_of: dict[str, Any] | None = None
                ) -> tuple[int, dict[str, Any]]:
    """Записать файл; (201, attr) — новый, (200, attr) — повтор того же содержимого.

    ``copy_of`` — attr.json соседа-члена (копия от anti-entropy, pull, ремонт): путь и версия — его,
    режим элемента не проверяется (копия уже подтверждённого файла, и ro-архив тоже чинится).
    """
    if copy_of is None:
        modes.check(el.mode, "write")
    expected = expected_sha.lower() if expected_sha else None
    lock = el.lock(file_id)
    try:
        async with lock:
            existing = await el.cache.get(file_id)
            if existing is not None:
                got = expected or await _hash_only(chunks)
                if got == existing["checksum"]:
                    return 200, _public(existing)
                raise ProblemError(409, "file_exists",
                                   f"файл {file_id} уже есть на элементе с другим содержимым (sha256 не совпадает)")
            version = 1
            if copy_of is not None:
                version = int(copy_of.get("version") or 1)
            elif el.tombstones is not None and (tomb := el.tombstones.get(file_id)) is not None:
                # файл с этим id откатывали или удаляли (повтор саги переноса): новая запись старше
                # надгробия, иначе соседи по anti-entropy удалили бы её как уже удалённую
                version = int(tomb["version"]) + 1
            attr = await _write_new(el, file_id, meta, chunks, content_length, expected, version=version,
                                    key=copy_of.get("storage_path") if copy_of is not None else None)
            if el.tombstones is not None:
                await el.tombstones.discard(file_id)
            if copy_of is None:
                el.written(file_id)  # копию соседа откатывает не пишущий сервис (кроме pull по его просьбе)
            return 201, attr
    finally:
        el.release_lock(file_id)


def _public(attr: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attr.items() if not k.startswith("_")}


async def _write_new(el: Element, file_id: str, meta: FileMeta, chunks: AsyncIterator[bytes],
                     content_length: int | None, expected: str | None, *, version: int = 1,
                     key: str | None = None) -> dict[str, Any]:
    # время создания, заданное пишущим сервисом, определяет и путь, и срок: члены реплицированного
    # элемента получают один created_at и строят одинаковые attr.json (docs/replication.md §3)
    created_at = attrs.parse_dt(meta.created_at) or attrs.now_utc()
    expires_at = expires_for(el, meta, created_at)
    if key is None or not valid_key(key):
        key = make_key(meta.original_filename, meta.created_by_username, file_id, created_at)
    meta_dict = meta.model_dump()
    comp_probe = {"algorithm": meta.compression_algorithm, "stored_size": 10**15} if meta.compression_algorithm \
        else None
    # проверка размера attr.json до чтения тела: при отказе ничего не записано
    attrs.encode(attrs.build(file_id=file_id, meta=meta_dict, key=key, file_size=10**15, checksum="0" * 64,
                             element_id=el.settings.element_id, created_at=created_at, expires_at=expires_at,
                             compression=comp_probe, version=version))
    limit = el.free_for_write()
    if content_length is not None and content_length > limit:
        raise insufficient(el, content_length)
    op_id = new_op_id()
    with el.reserve(content_length or 0):
        seq = el.wal.intent(op_id, "put", file_id=file_id, key=key)
        wal_synced = asyncio.ensure_future(el.wal.sync(seq))
        sink = el.backend.open_sink(key, op_id)
        codec = WriteCodec(meta.compression_algorithm)
        published = False
        try:
            total = 0
            batch: list[bytes] = []
            size = 0
            pending: asyncio.Future[None] | None = None
            async for chunk in chunks:
                if not chunk:
                    continue
                total += len(chunk)
                if total > limit:
                    raise insufficient(el, content_length or total)
                batch.append(chunk)
                size += len(chunk)
                if size >= WRITE_BATCH:
                    if pending is not None:
                        await pending
                    pending = asyncio.ensure_future(sink.write(batch, codec.process))
                    batch, size = [], 0
            if pending is not None:
                await pending
            await sink.finish(batch, codec.process, codec.final)
            checksum = codec.hexdigest()
            if expected and expected != checksum:
                raise ProblemError(422, "checksum_mismatch",
                                   f"sha256 содержимого {checksum} не совпал с X-Expected-SHA256 {expected}; "
                                   "файл не сохранён")
            compression = {"algorithm": meta.compression_algorithm, "stored_size": sink.stored_size} \
                if meta.compression_algorithm else None
            attr = attrs.build(file_id=file_id, meta=meta_dict, key=key, file_size=codec.raw_size,
                               checksum=checksum, element_id=el.settings.element_id, created_at=created_at,
                               expires_at=expires_at, compression=compression, updated_at=created_at,
                               version=version)
            data = attrs.encode(attr)
            await wal_synced
            stamp = await el.backend.publish(sink, key, data)
            published = True
            await el.cache.upsert(attr, sink.stored_size)
            # записанное только что хэшировано: первому Range не нужно перечитывать файл целиком
            el.fixity.mark_good(file_id, stamp, checksum)
        except BaseException:
            if not wal_synced.done():
                wal_synced.cancel()
            if not published:
                await asyncio.shield(_undo(el, sink, key, op_id))
            else:
                # Данные и attr.json уже на месте, а строки кэша нет — 201 клиент не получит, значит и
                # файла быть не должно: убираем пару, иначе она осталась бы невидимой для поиска сиротой.
                await asyncio.shield(_unpublish(el, key, file_id, op_id))
            raise
    el.used_bytes += sink.stored_size
    el.file_count += 1
    el.wal.close_op(op_id)
    return attr


async def _unpublish(el: Element, key: str, file_id: str, op_id: str) -> None:
    with contextlib.suppress(Exception):
        await el.cache.delete(file_id)
    try:
        await el.backend.delete(key)
    except Exception:
        _undo_failed(key, op_id)
        return
    el.wal.close_op(op_id, "abort")


async def _undo(el: Element, sink: Any, key: str, op_id: str) -> None:
    try:
        await sink.abort()
        await el.backend.rollback(key, op_id)
    except Exception:
        _undo_failed(key, op_id)
        return
    el.wal.close_op(op_id, "abort")


def _undo_failed(key: str, op_id: str) -> None:
    # Клиент получает исходную ошибку записи, а не ошибку отката; операция остаётся открытой в WAL —
    # восстановление при старте повторит откат, а не сумев — отложит запись в карантин.
    _log.exception("откат записи %s не удался; операция %s остаётся в WAL", key, op_id)


async def remove(el: Element, file_id: str, *, check_mode: bool = True, tombstone: str | None = "deleted",
                 tomb_version: int | None = None) -> dict[str, Any]:
    """Удаление: attr.json первым (файла больше нет), затем данные, затем строка кэша.

    У члена реплицированного элемента сперва пишется надгробие с причиной ``tombstone`` (docs/replication.md
    §6): соседи повторят удаление, а не вернут файл; ``None`` — без надгробия (замена своей плохой копии).
    """
    if check_mode:
        modes.check(el.mode, "delete")
    async with el.lock(file_id):
        attr = await el.cache.get(file_id)
        if attr is None:
            raise ProblemError(404, "file_not_found", f"файла {file_id} нет на элементе {el.settings.element_id}")
        if el.tombstones is not None and tombstone is not None:
            version = max(int(attr.get("version") or 1), tomb_version or 0)
            await el.tombstones.put(file_id, str(attr["checksum"]), version, tombstone)
        op_id = new_op_id()
        seq = el.wal.intent(op_id, "delete", file_id=file_id, key=attr["storage_path"])
        await el.wal.sync(seq)
        await el.backend.delete(attr["storage_path"])
        await el.cache.delete(file_id)
        el.corrupt.discard(file_id)
        el.restored.discard(file_id)
        el.fixity.forget(file_id)
        el.wal.close_op(op_id)
        el.used_bytes = max(0, el.used_bytes - int(attr["_stored_size"]))
        el.file_count = max(0, el.file_count - 1)
    el.release_lock(file_id)
    return _public(attr)
