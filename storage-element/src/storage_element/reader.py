"""Отдача содержимого: Range (одиночный, суффикс, открытый), сильный ETag = sha256, If-Range,
Repr-Digest, Content-Disposition по RFC 6266.

Повреждённый файл не отдаётся как целый: помеченный скрабом — 409 до начала ответа; при полном
чтении хэш сверяется на лету, и несовпадение в конце обрывает соединение (исключение в потоке),
а не завершает ответ как успешный.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from artstore_common import ProblemError

from . import modes
from .backends.local import LocalBackend
from .codec import ReadVerifier
from .element import Element
from .layout import content_disposition

_log = logging.getLogger("storage_element.reader")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Тело до этого размера читается (и хэшируется) одним вызовом в потоке и уходит одним сообщением:
# StreamingResponse с группой задач и поштучной отправкой стоит дороже самого чтения 64 КиБ.
SMALL_BODY = 1024 * 1024
# Кусок потоковой отдачи с локального диска: крупнее — меньше переходов поток↔цикл событий и
# отправок через цепочку middleware на каждый байт; 4 МиБ дают заметный выигрыш над 1 МиБ, а
# память на ответ остаётся ограниченной (кусок в полёте + один упреждающий).
STREAM_CHUNK = 4 * 1024 * 1024


class CorruptStreamError(Exception):
    """Хэш потока не сошёлся с attr.json — соединение обрывается."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) или None (весь файл); 416 — диапазон вне файла."""
    if not header:
        return None
    m = _RANGE.match(header.strip().replace(" ", ""))
    if not m or (not m.group(1) and not m.group(2)):
        return None  # несколько диапазонов или мусор: RFC 9110 разрешает ответить всем файлом
    first, last = m.group(1), m.group(2)
    if first:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
        if last and int(last) < start:
            return None
    else:
        n = int(last)
        start, end = max(0, size - n), size
        if n == 0:
            start = end = size
    if start >= size or start >= end:
        raise ProblemError(416, "range_not_satisfiable",
                           f"диапазон {header} вне файла размером {size} байт",
                           headers={"Content-Range": f"bytes */{size}"})
    return start, end


def ensure_readable(el: Element, attr: dict[str, Any]) -> None:
    file_id = attr["file_id"]
    if el.mode == "ar" and file_id not in el.restored:
        raise ProblemError(
            409, "file_archived",
            f"файл {file_id} в холодном хранении (элемент в режиме ar); "
            f"верните его: POST /api/v1/files/{file_id}/restore",
            extra={"restore_url": f"/api/v1/files/{file_id}/restore"},
        )
    modes.check(el.mode, "read")
    if attr.get("_corrupted") or file_id in el.corrupt:
        raise ProblemError(409, "file_corrupted",
                           f"файл {file_id} повреждён (sha256 не совпадает с attr.json) и не отдаётся; "
                           "восстановите его из резервной копии")


async def _mark_corrupt(el: Element, attr: dict[str, Any], actual: str) -> None:
    _log.error("файл %s повреждён: sha256 %s вместо %s", attr["file_id"], actual, attr["checksum"])
    el.corrupt.add(attr["file_id"], actual)
    el.metrics.scrub_corruptions.inc()
    await el.cache.set_corrupted(attr["file_id"], True)


async def _stream(el: Element, attr: dict[str, Any], start: int, end: int, raw: bool) -> AsyncIterator[bytes]:
    """Общий путь (сжатые файлы, S3). Последний кусок придерживается до сверки хэша — см. _stream_local."""
    full = start == 0 and end == int(attr["file_size"]) and not raw
    comp = attr.get("compression")
    verifier = ReadVerifier(comp["algorithm"] if comp and not raw else None, full)
    held: bytes | None = None
    async for chunk in _pieces(el, attr, start, end, raw, full, verifier):
        if held is not None:
            yield held
        held = chunk
    if full:
        await _verify(el, attr, verifier.hexdigest())
    if held is not None:
        yield held


async def _pieces(el: Element, attr: dict[str, Any], start: int, end: int, raw: bool, full: bool,
                  verifier: ReadVerifier) -> AsyncIterator[bytes]:
    key = attr["storage_path"]
    if attr.get("compression") and not raw:
        # сжатый файл: распаковываем с начала и вырезаем нужный диапазон
        pos = 0
        async for chunk in el.backend.iter_range(key, 0, int(attr["_stored_size"]), verifier):
            lo, hi = max(start - pos, 0), min(end - pos, len(chunk))
            pos += len(chunk)
            if hi > lo:
                yield chunk[lo:hi] if (lo, hi) != (0, len(chunk)) else chunk
            if pos >= end and not full:
                return
    else:
        async for chunk in el.backend.iter_range(key, start, end, verifier if full else None):
            yield chunk


def _read_whole(path: str, start: int, end: int, verify: bool) -> tuple[bytes, str | None]:
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.pread(fd, end - start, start)
    finally:
        os.close(fd)
    if len(data) != end - start and not verify:
        # файл короче attr.json: отдать меньше обещанного Content-Length нельзя, полное чтение
        # поймает это сверкой хэша, а диапазон — только здесь
        raise OSError(f"{path}: прочитано {len(data)} байт из {end - start}")
    return data, (hashlib.sha256(data).hexdigest() if verify else None)


async def _stream_local(el: Element, attr: dict[str, Any], path: str, start: int, end: int,
                        verify: bool) -> AsyncIterator[bytes]:
    """Несжатый файл с локального диска: чтение и sha256 — в одном вызове потока на кусок, следующий
    кусок читается, пока цикл событий отправляет текущий (чтение+хэш и отправка — на разных ядрах;
    hashlib отпускает GIL на больших буферах)."""
    loop = asyncio.get_running_loop()
    fd = await loop.run_in_executor(None, os.open, path, os.O_RDONLY)
    hasher = hashlib.sha256() if verify else None

    def _read(pos: int, n: int) -> bytes:
        data = os.pread(fd, n, pos)
        if hasher is not None:
            hasher.update(data)
        return data

    pending: asyncio.Future[bytes] | None = None
    try:
        pos = start
        pending = loop.run_in_executor(None, _read, pos, min(STREAM_CHUNK, end - pos))
        while pending is not None:
            chunk = await pending
            pending = None
            if not chunk:
                break
            pos += len(chunk)
            if pos < end:
                pending = loop.run_in_executor(None, _read, pos, min(STREAM_CHUNK, end - pos))
            elif hasher is not None:
                # Последний кусок уходит только после сверки хэша: отправь мы его раньше, клиент получил
                # бы все байты по Content-Length и счёл бы ответ успешным, а обрыв после этого ничего
                # не значит. Без последних байт ответ неполон — и клиент, и query видят ошибку.
                await _verify(el, attr, hasher.hexdigest())
            yield chunk
    finally:
        if pending is not None:
            # поток чтения нельзя прервать: дожидаемся его, прежде чем закрыть файл
            with contextlib.suppress(BaseException):
                await asyncio.shield(pending)
        os.close(fd)
    if pos < end:
        if hasher is not None:
            # файл короче attr.json — тоже повреждение: помечаем, следующие чтения получат 409 сразу
            await _mark_corrupt(el, attr, hasher.hexdigest())
        raise CorruptStreamError(f"файл {attr['file_id']} короче заявленного: поток оборван на {pos} из {end}")


async def _verify(el: Element, attr: dict[str, Any], actual: str) -> None:
    if actual != attr["checksum"]:
        await _mark_corrupt(el, attr, actual)
        raise CorruptStreamError(f"sha256 файла {attr['file_id']} не сошёлся; поток оборван")


async def _local_response(el: Element, attr: dict[str, Any], start: int, end: int, raw: bool, status: int,
                          headers: dict[str, str], media: str) -> Response | None:
    """Быстрый путь для несжатой (или сырой) формы на локальном диске; None — общий путь."""
    backend = el.backend
    if not isinstance(backend, LocalBackend) or (attr.get("compression") and not raw):
        return None
    path = str(backend.path(attr["storage_path"]))
    # сверяем хэш только при полном чтении: диапазон проверить на лету нельзя, он опирается на флаги скраба
    verify = not raw and start == 0 and end == int(attr["file_size"])
    if end - start > SMALL_BODY:
        return StreamingResponse(_stream_local(el, attr, path, start, end, verify), status_code=status,
                                 headers=headers, media_type=media)
    loop = asyncio.get_running_loop()
    data, actual = await loop.run_in_executor(None, _read_whole, path, start, end, verify)
    if actual is not None and actual != attr["checksum"]:
        # малый файл проверен до отправки: клиент получает явный 409, а не оборванный поток
        await _mark_corrupt(el, attr, actual)
        raise ProblemError(409, "file_corrupted",
                           f"файл {attr['file_id']} повреждён (sha256 не совпадает с attr.json) и не отдаётся; "
                           "восстановите его из резервной копии")
    return Response(data, status_code=status, headers=headers, media_type=media)


async def content_response(el: Element, request: Request, attr: dict[str, Any], raw: bool) -> Response:
    ensure_readable(el, attr)
    size = int(attr["_stored_size"]) if raw else int(attr["file_size"])
    etag = f'"{attr["checksum"]}-raw"' if raw else f'"{attr["checksum"]}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(attr["original_filename"]),
        "Cache-Control": "private, max-age=0",
    }
    if not raw:
        digest = base64.b64encode(bytes.fromhex(attr["checksum"])).decode()
        headers["Repr-Digest"] = f"sha-256=:{digest}:"
    elif attr.get("compression"):
        headers["X-Artstore-Compression"] = attr["compression"]["algorithm"]
    inm = request.headers.get("if-none-match")
    if inm and (inm.strip() == "*" or etag in [t.strip() for t in inm.split(",")]):
        return Response(status_code=304, headers=headers)
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if range_header and if_range and if_range.strip() != etag:
        range_header = None  # представление изменилось (или If-Range — дата): отдаём целиком
    rng = parse_range(range_header, size)
    media = "application/octet-stream" if raw else (attr.get("content_type") or "application/octet-stream")
    if rng is None:
        start, end, status = 0, size, 200
    else:
        start, end = rng
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    fast = await _local_response(el, attr, start, end, raw, status, headers, media)
    if fast is not None:
        return fast
    return StreamingResponse(_stream(el, attr, start, end, raw), status_code=status, headers=headers, media_type=media)
