"""Отдача содержимого: Range (одиночный, суффикс, открытый), сильный ETag = sha256, If-Match, If-None-Match,
If-Range, Repr-Digest, Content-Disposition по RFC 6266; HEAD — те же заголовки без тела.

HEAD байт файла не читает: отвечает по известному состоянию (помеченный повреждённым — 409), проверку
целиком, которая нужна диапазону без вердикта, он не запускает.

Повреждённый файл не отдаётся ни целиком, ни частью: помеченный — 409 до начала ответа; при полном
чтении хэш сверяется на лету, и несовпадение в конце обрывает соединение (исключение в потоке),
а не завершает ответ как успешный; диапазон и чтение `raw` отдаются только по вердикту «цел» для
текущего отпечатка байт, а без него — после проверки файла целиком (fixity.py: что это ловит и что нет).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from artstore_common import ProblemError, content_disposition

from . import modes
from .backends.base import Stamp
from .backends.local import LocalBackend, local_stamp
from .codec import ReadVerifier
from .element import Element
from .fixity import corrupted_problem

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
        raise corrupted_problem(file_id)


async def _ensure_verified(el: Element, attr: dict[str, Any]) -> None:
    """Перед отдачей байт без сверки на лету (диапазон, `raw`): вердикт для текущего отпечатка или проверка."""
    stamp = await el.backend.stamp(attr["storage_path"])
    if stamp is None:
        raise ProblemError(409, "file_corrupted",
                           f"данных файла {attr['file_id']} нет в хранилище, хотя attr.json есть; "
                           "восстановите файл из резервной копии")
    await el.fixity.ensure(el, attr, stamp)


async def _stream(el: Element, attr: dict[str, Any], start: int, end: int, raw: bool) -> AsyncIterator[bytes]:
    """Общий путь (сжатые файлы, S3). Последний кусок придерживается до сверки хэша — см. _stream_local."""
    full = start == 0 and end == int(attr["file_size"]) and not raw
    comp = attr.get("compression")
    verifier = ReadVerifier(comp["algorithm"] if comp and not raw else None, full)
    held: bytes | None = None
    seen: list[Stamp] = []
    async for chunk in _pieces(el, attr, start, end, raw, full, verifier, seen.append):
        if held is not None:
            yield held
        held = chunk
    if full:
        await _verify(el, attr, verifier.hexdigest(), seen[0] if seen else None)
    if held is not None:
        yield held


async def _pieces(el: Element, attr: dict[str, Any], start: int, end: int, raw: bool, full: bool,
                  verifier: ReadVerifier, on_stamp: Callable[[Stamp], None]) -> AsyncIterator[bytes]:
    key = attr["storage_path"]
    if attr.get("compression") and not raw:
        # сжатый файл: распаковываем с начала и вырезаем нужный диапазон
        pos = 0
        async for chunk in el.backend.iter_range(key, 0, int(attr["_stored_size"]), verifier, on_stamp):
            lo, hi = max(start - pos, 0), min(end - pos, len(chunk))
            pos += len(chunk)
            if hi > lo:
                yield chunk[lo:hi] if (lo, hi) != (0, len(chunk)) else chunk
            if pos >= end and not full:
                return
    else:
        async for chunk in el.backend.iter_range(key, start, end, verifier if full else None, on_stamp):
            yield chunk


def _read_whole(path: str, start: int, end: int, verify: bool,
                trusted: Callable[[Stamp], bool] | None) -> tuple[bytes | None, str | None, Stamp]:
    """Один вызов в потоке: открыть, отпечаток, прочитать (+ sha256). (None, …) — `trusted` отверг отпечаток:
    вердикта нет, байты не читались."""
    fd = os.open(path, os.O_RDONLY)
    try:
        stamp = local_stamp(os.fstat(fd))
        if trusted is not None and not trusted(stamp):
            return None, None, stamp
        data = os.pread(fd, end - start, start)
    finally:
        os.close(fd)
    if len(data) != end - start and not verify:
        # файл короче attr.json: отдать меньше обещанного Content-Length нельзя, полное чтение
        # поймает это сверкой хэша, а диапазон — только здесь
        raise OSError(f"{path}: прочитано {len(data)} байт из {end - start}")
    return data, (hashlib.sha256(data).hexdigest() if verify else None), stamp


async def _stream_local(el: Element, attr: dict[str, Any], path: str, start: int, end: int,
                        verify: bool) -> AsyncIterator[bytes]:
    """Несжатый файл с локального диска: чтение и sha256 — в одном вызове потока на кусок, следующий
    кусок читается, пока цикл событий отправляет текущий (чтение+хэш и отправка — на разных ядрах;
    hashlib отпускает GIL на больших буферах)."""
    loop = asyncio.get_running_loop()
    fd = await loop.run_in_executor(None, os.open, path, os.O_RDONLY)
    stamp = local_stamp(os.fstat(fd))  # fstat открытого файла не ждёт диска
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
                await _verify(el, attr, hasher.hexdigest(), stamp)
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
            await el.mark_corrupt(attr, hasher.hexdigest())
        raise CorruptStreamError(f"файл {attr['file_id']} короче заявленного: поток оборван на {pos} из {end}")


async def _verify(el: Element, attr: dict[str, Any], actual: str, stamp: Stamp | None) -> None:
    if actual != attr["checksum"]:
        await el.mark_corrupt(attr, actual)
        raise CorruptStreamError(f"sha256 файла {attr['file_id']} не сошёлся; поток оборван")
    if stamp is not None:
        el.fixity.mark_good(attr["file_id"], stamp, attr["checksum"])


async def _local_response(el: Element, attr: dict[str, Any], start: int, end: int, raw: bool, full: bool,
                          status: int, headers: dict[str, str], media: str) -> Response | None:
    """Быстрый путь для несжатой (или сырой) формы на локальном диске; None — общий путь."""
    backend = el.backend
    if not isinstance(backend, LocalBackend) or (attr.get("compression") and not raw):
        return None
    path = str(backend.path(attr["storage_path"]))
    if end - start > SMALL_BODY:
        if not full:
            await _ensure_verified(el, attr)
        return StreamingResponse(_stream_local(el, attr, path, start, end, full), status_code=status,
                                 headers=headers, media_type=media)
    loop = asyncio.get_running_loop()
    # диапазон: вердикт сверяется в том же вызове потока, что и чтение, — без лишнего перехода
    file_id, checksum = attr["file_id"], attr["checksum"]
    trusted = None if full else (lambda st: el.fixity.is_good(file_id, st, checksum))
    data, actual, stamp = await loop.run_in_executor(None, _read_whole, path, start, end, full, trusted)
    if data is None:
        await el.fixity.ensure(el, attr, stamp)
        data, actual, stamp = await loop.run_in_executor(None, _read_whole, path, start, end, full, None)
        assert data is not None
    if actual is not None:
        if actual != checksum:
            # малый файл проверен до отправки: клиент получает явный 409, а не оборванный поток
            await el.mark_corrupt(attr, actual)
            raise corrupted_problem(file_id)
        el.fixity.mark_good(file_id, stamp, checksum)
    return Response(data, status_code=status, headers=headers, media_type=media)


def check_if_match(request: Request, etag: str | None) -> None:
    """If-Match (RFC 9110 §13.1.1), сильное сравнение: «*» — любой существующий файл; `etag` None — файла нет."""
    header = request.headers.get("if-match")
    if header is None:
        return
    tags = [t.strip() for t in header.split(",") if t.strip()]
    if etag is not None and ("*" in tags or etag in tags):
        return
    if etag is None:
        detail = f"файла нет, а запрос требует If-Match: {header}; найдите файл заново (поиск, метаданные)"
    else:
        detail = (f"файл изменился: If-Match {header} не совпал с текущим ETag {etag}; "
                  "запросите метаданные заново и повторите с новым ETag")
    raise ProblemError(412, "precondition_failed", detail, headers={"ETag": etag} if etag else None)


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
    check_if_match(request, etag)
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
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media)
    full = not raw and start == 0 and end == size  # полное чтение сверяется на лету, остальное — по вердикту
    fast = await _local_response(el, attr, start, end, raw, full, status, headers, media)
    if fast is not None:
        return fast
    if not full:
        await _ensure_verified(el, attr)
    return StreamingResponse(_stream(el, attr, start, end, raw), status_code=status, headers=headers, media_type=media)
