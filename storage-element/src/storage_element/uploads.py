"""Частичные загрузки для tus в ingester: данные дописываются в `.uploads/`, фиксация — тем же
протоколом записи, что и PUT /files. Брошенные загрузки удаляет фоновая задача по сроку.

Смещение = размер файла на диске после fsync каждого PATCH: после сбоя клиент продолжит ровно с
подтверждённого места.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from artstore_common import ProblemError, atomic_write, meta_from_obj, valid_file_id

from . import attrs, modes
from .backends.base import READ_CHUNK, WRITE_BATCH
from .element import Element
from .models import UploadCreate
from .writer import insufficient, store


class Uploads:
    def __init__(self, el: Element) -> None:
        self.el = el
        self.dir = el.data_dir / ".uploads"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, asyncio.Lock] = {}

    def _paths(self, upload_id: str) -> tuple[Path, Path]:
        if not valid_file_id(upload_id):
            raise ProblemError(404, "upload_not_found", f"загрузки {upload_id!r} нет")
        return self.dir / f"{upload_id}.json", self.dir / f"{upload_id}.data"

    def _lock(self, upload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(upload_id, asyncio.Lock())

    def _load(self, upload_id: str) -> dict[str, Any]:
        info_path, data_path = self._paths(upload_id)
        try:
            info: dict[str, Any] = json.loads(info_path.read_bytes())
        except (FileNotFoundError, ValueError) as exc:
            raise ProblemError(404, "upload_not_found", f"загрузки {upload_id} нет (завершена, отменена или истекла)") \
                from exc
        info["offset"] = data_path.stat().st_size if data_path.exists() else 0
        return info

    @staticmethod
    def public(info: dict[str, Any]) -> dict[str, Any]:
        return {k: info[k] for k in ("upload_id", "offset", "length", "expires_at", "file_id")}

    async def create(self, req: UploadCreate) -> dict[str, Any]:
        modes.check(self.el.mode, "write")
        meta = meta_from_obj(req.meta)
        file_id = req.file_id or req.upload_id
        for ident in (req.upload_id, file_id):
            if not valid_file_id(ident):
                raise ProblemError(422, "invalid_id", f"недопустимый идентификатор {ident!r}")
        if req.length > self.el.free_for_write():
            raise insufficient(self.el, req.length)
        info_path, data_path = self._paths(req.upload_id)
        if info_path.exists():
            raise ProblemError(409, "upload_exists", f"загрузка {req.upload_id} уже существует")
        hours = req.expires_in / 3600 if req.expires_in else self.el.settings.upload_expires_hours
        info = {"upload_id": req.upload_id, "file_id": file_id, "length": req.length,
                "meta": meta.model_dump(mode="json"), "expected_sha256": req.expected_sha256,
                "expires_at": attrs.iso(attrs.now_utc() + timedelta(hours=hours))}
        await asyncio.to_thread(data_path.touch)
        await asyncio.to_thread(atomic_write, info_path, json.dumps(info, ensure_ascii=False).encode())
        info["offset"] = 0
        return self.public(info)

    async def status(self, upload_id: str) -> dict[str, Any]:
        return self.public(await asyncio.to_thread(self._load, upload_id))

    async def append(self, upload_id: str, offset: int, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        modes.check(self.el.mode, "write")
        async with self._lock(upload_id):
            info = await asyncio.to_thread(self._load, upload_id)
            if offset != info["offset"]:
                raise ProblemError(409, "offset_mismatch",
                                   f"Upload-Offset {offset} не совпадает с принятым смещением {info['offset']}",
                                   headers={"Upload-Offset": str(info["offset"])},
                                   extra={"offset": info["offset"]})
            _, data_path = self._paths(upload_id)
            fd = await asyncio.to_thread(os.open, data_path, os.O_WRONLY | os.O_APPEND)
            written = 0
            batch: list[bytes] = []
            size = 0

            def flush(parts: list[bytes]) -> None:
                os.write(fd, b"".join(parts))

            try:
                async for chunk in chunks:
                    if info["offset"] + written + size + len(chunk) > info["length"]:
                        raise ProblemError(413, "upload_too_large",
                                           f"данных больше объявленной длины {info['length']} байт")
                    batch.append(chunk)
                    size += len(chunk)
                    if size >= WRITE_BATCH:
                        await asyncio.to_thread(flush, batch)
                        written += size
                        batch, size = [], 0
                if batch:
                    await asyncio.to_thread(flush, batch)
                    written += size
            finally:
                # принятое до обрыва остаётся: клиент продолжит с HEAD-смещения
                await asyncio.to_thread(_sync_close, fd)
            return {"offset": info["offset"] + written}

    async def commit(self, upload_id: str) -> tuple[int, dict[str, Any]]:
        async with self._lock(upload_id):
            info = await asyncio.to_thread(self._load, upload_id)
            if info["offset"] != info["length"]:
                raise ProblemError(409, "upload_incomplete",
                                   f"загружено {info['offset']} из {info['length']} байт; фиксировать рано",
                                   extra={"offset": info["offset"]})
            _, data_path = self._paths(upload_id)
            status, attr = await store(self.el, info["file_id"], meta_from_obj(info["meta"]),
                                       _read_file(data_path), info["length"], info.get("expected_sha256"))
            await self._remove(upload_id)
        self._locks.pop(upload_id, None)
        return status, attr

    async def cancel(self, upload_id: str) -> None:
        async with self._lock(upload_id):
            await asyncio.to_thread(self._load, upload_id)
            await self._remove(upload_id)
        self._locks.pop(upload_id, None)

    async def _remove(self, upload_id: str) -> None:
        def _rm() -> None:
            for p in self._paths(upload_id):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()

        await asyncio.to_thread(_rm)

    async def expire(self) -> int:
        """Удалить брошенные загрузки с истёкшим сроком."""
        now = attrs.now_utc()
        removed = 0
        for info_path in list(self.dir.glob("*.json")):
            upload_id = info_path.stem
            try:
                info = json.loads(info_path.read_bytes())
                expires = attrs.parse_dt(info.get("expires_at"))
            except (ValueError, FileNotFoundError):
                expires = None
            if expires is None or expires <= now:
                if not self._lock(upload_id).locked():
                    await self._remove(upload_id)
                    removed += 1
                self._locks.pop(upload_id, None)
        return removed


def _sync_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    fh = await asyncio.to_thread(open, path, "rb")
    try:
        while True:
            chunk = await asyncio.to_thread(fh.read, READ_CHUNK)
            if not chunk:
                break
            yield chunk
    finally:
        fh.close()
