"""Загрузка по tus 1.0 с докачкой и скачивание с Range, обе со сверкой sha256.

Загрузка: адрес tus-загрузки сохраняется до первого байта (ключ — путь, размер и mtime файла), поэтому
тот же запуск после обрыва или kill -9 спрашивает у сервера смещение (HEAD) и продолжает с него. Каждый
кусок несёт ``Upload-Checksum: sha256`` — сервер отвергает испорченный кусок (460), а итоговый sha256
файла сверяется с тем, что посчитал элемент хранения.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .api import CliError, Session, problem
from .state import fsync_dir

TUS = {"Tus-Resumable": "1.0.0"}
OCTET = "application/offset+octet-stream"
HASH_BLOCK = 4 * 1024 * 1024
_RETRY = frozenset({401, 409, 460, 502, 503, 504})
Progress = Callable[[int], None]


def sha256_file(path: Path, advance: Progress | None = None) -> hashlib._Hash:
    """sha256 файла блоками — файл целиком в память не читается."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(HASH_BLOCK):
            h.update(block)
            if advance:
                advance(len(block))
    return h


def tus_metadata(fields: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


@dataclass
class UploadPlan:
    path: Path
    size: int
    fields: dict[str, str]
    chunk_size: int


def upload_fields(path: Path, *, description: str, tags: list[str], meta: dict[str, str], retention: str,
                  ttl_days: int | None) -> dict[str, str]:
    fields = {"filename": path.name,
              "filetype": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
              "retention_policy": retention}
    if ttl_days is not None:
        fields["ttl_days"] = str(ttl_days)
    if description:
        fields["description"] = description
    if tags:
        fields["tags"] = json.dumps(tags, ensure_ascii=False)  # JSON-массив: запятая внутри тега не режет его
    if meta:
        fields["metadata"] = json.dumps(meta, ensure_ascii=False)
    return fields


class Uploader:
    def __init__(self, session: Session, plan: UploadPlan, key: str) -> None:
        self.s = session
        self.plan = plan
        self.key = key
        self.base = session.ingester_url.rstrip("/")

    def _url(self, location: str) -> str:
        return location if location.startswith(("http://", "https://")) else self.base + location

    def resume_offset(self, url: str) -> int | None:
        """Смещение, принятое сервером; None — загрузки там больше нет (истекла, отменена)."""
        resp = self.s.request("HEAD", url, "смещение загрузки", ok=(200, 404, 410), headers=TUS)
        if resp.status_code != 200:
            return None
        return int(resp.headers["upload-offset"])

    def create(self) -> str:
        headers = {**TUS, "Upload-Length": str(self.plan.size), "Upload-Metadata": tus_metadata(self.plan.fields)}
        resp = self.s.request("POST", self.base + "/api/v1/uploads", "загрузка не создана", ok=(201,),
                              headers=headers)
        return self._url(resp.headers["location"])

    def send(self, url: str, offset: int, advance: Progress) -> None:
        """Куски от ``offset`` до конца; сбой сети или 409 — сверка смещения с сервером и продолжение."""
        failures = 0
        with self.plan.path.open("rb") as f:
            while offset < self.plan.size:
                f.seek(offset)
                chunk = f.read(min(self.plan.chunk_size, self.plan.size - offset))
                digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
                headers = {**TUS, "Content-Type": OCTET, "Upload-Offset": str(offset),
                           "Upload-Checksum": f"sha256 {digest}"}
                try:
                    resp = self.s.http.patch(url, content=chunk, headers={**headers, **self.s.auth()})
                except httpx.TransportError as exc:
                    failures = self._retry(failures, exc)
                    offset = self._resync(url, offset, advance)
                    continue
                if resp.status_code == 204:
                    new = int(resp.headers["upload-offset"])
                    advance(new - offset)
                    offset, failures = new, 0
                elif resp.status_code in _RETRY:
                    # 401 — токен сменился, 409 — смещение разошлось, 460 — кусок испорчен в пути,
                    # 502-504 — сбой на пути к элементу: повтор от смещения, которое знает сервер
                    failures = self._retry(failures, problem(resp, "кусок не принят"))
                    if resp.status_code == 401:
                        self.s.token(force=True)
                    offset = self._resync(url, offset, advance)
                else:
                    raise problem(resp, "кусок не принят")

    def _resync(self, url: str, offset: int, advance: Progress) -> int:
        try:
            server = self.resume_offset(url)
        except CliError as exc:
            if exc.status is not None:
                raise
            # сеть ещё не вернулась: следующий PATCH после паузы; разойдётся смещение — 409 и новая сверка
            return offset
        if server is None:
            self.s.store.drop_upload(self.key)
            raise CliError("загрузка на сервере истекла или отменена; запустите команду снова — начнётся новая")
        advance(server - offset)
        return server

    @staticmethod
    def _retry(failures: int, exc: Exception) -> int:
        failures += 1
        if failures > 5:
            raise exc if isinstance(exc, CliError) else CliError(f"передача прервана: {exc}")
        time.sleep(min(2.0 ** failures, 20.0))
        return failures

    def result(self, url: str) -> dict[str, Any]:
        body = self.s.request("GET", url, "состояние загрузки").json()
        if not body.get("completed") or not isinstance(body.get("file"), dict):
            raise CliError(f"сервер принял {body.get('offset')} из {body.get('length')} байт, но файл не создан")
        return dict(body["file"])


# --- скачивание ---------------------------------------------------------------------------------------
_DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/=_-]+):", re.IGNORECASE)


def repr_digest_hex(header: str | None) -> str | None:
    m = _DIGEST.search(header or "")
    if not m:
        return None
    try:
        return base64.b64decode(m.group(1).replace("-", "+").replace("_", "/")).hex()
    except ValueError:
        return None


def safe_name(name: str, fallback: str) -> str:
    """Имя из метаданных → имя в текущем каталоге: без каталогов и скрытых файлов."""
    base = os.path.basename(name.replace("\\", "/")).strip().lstrip(".")
    return base or fallback


def download(session: Session, file_id: str, target: Path, expected: str, size: int, *,
             advance: Progress) -> str:
    """Скачать в ``target.part`` (докачка по Range), сверить sha256, переименовать. → sha256 hex."""
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    # начало уже на диске: в хэш, не скачивая заново
    h = sha256_file(part, advance) if have else hashlib.sha256()
    if have < size or not part.exists():
        url = session.query_url.rstrip("/") + f"/api/v1/files/{file_id}/download"
        h = _fetch(session, url, part, have, expected, h, advance)
    actual = h.hexdigest()
    if actual != expected:
        part.unlink(missing_ok=True)
        raise CliError(f"sha256 скачанного {actual} не совпал с {expected}; файл удалён, скачайте заново")
    os.replace(part, target)
    fsync_dir(target.parent)
    return actual


def _fetch(session: Session, url: str, part: Path, have: int, expected: str, h: hashlib._Hash,
           advance: Progress) -> hashlib._Hash:
    # If-Range: тот же файл на сервере (ETag = sha256) — только хвост, иначе сервер отдаст весь файл
    headers = {"Range": f"bytes={have}-", "If-Range": f'"{expected}"'} if have else {}
    for attempt in (0, 1):
        try:
            with session.http.stream("GET", url, headers={**headers, **session.auth(force=attempt > 0)}) as resp:
                if resp.status_code == 401 and not attempt:
                    continue
                if resp.status_code not in (200, 206):
                    resp.read()
                    raise problem(resp, "скачивание")
                digest = repr_digest_hex(resp.headers.get("repr-digest"))
                if digest and digest != expected:
                    raise CliError(f"сервер отдаёт файл с sha256 {digest}, а в метаданных {expected}")
                if resp.status_code == 200 and have:
                    advance(-have)  # начатое не годится: файл пришёл целиком
                    h, have = hashlib.sha256(), 0
                with part.open("r+b" if have else "wb") as f:
                    f.seek(have)
                    for chunk in resp.iter_bytes(1024 * 1024):
                        f.write(chunk)
                        h.update(chunk)
                        advance(len(chunk))
                    f.flush()
                    os.fsync(f.fileno())
                return h
        except httpx.TransportError as exc:
            done = part.stat().st_size if part.exists() else 0
            raise CliError(f"скачивание прервано ({exc}); запустите команду снова — продолжится с {done} байт") \
                from exc
    raise CliError("скачивание: сервер дважды отверг токен (HTTP 401); выполните artstore-cli login")

