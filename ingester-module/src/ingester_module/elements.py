"""Клиент API элемента хранения (docs/internal-api.md): запись, чтение атрибутов, удаление,
частичные загрузки. Поверх общего ``ServiceClient`` — пул соединений и предохранитель на элемент."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx

from artstore_common import ProblemError, ServiceClient


def _seg(value: str) -> str:
    """Сегмент пути к элементу: id клиента не может дописать к запросу свой путь или query."""
    return quote(value, safe="")

class ElementError(Exception):
    """Элемент ответил отказом (4xx/5xx) или не ответил вовсе (``status`` = 0)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail

    @property
    def retry_elsewhere(self) -> bool:
        """Отказ самого элемента (нет места, сменился режим, сбой) — другой элемент может принять."""
        return self.status == 0 or self.status >= 500 or self.code == "mode_forbids_operation"

    def to_problem(self) -> ProblemError:
        if self.status == 0 or (self.status >= 500 and self.status != 507):
            return ProblemError(502, "upstream_failed", f"элемент хранения не завершил операцию: {self.detail}")
        return ProblemError(self.status, self.code, self.detail)


def encode_meta(meta: dict[str, Any]) -> str:
    raw = json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def error_from(status: int, body: Any) -> ElementError:
    code, detail = "element_error", f"HTTP {status}"
    if isinstance(body, dict):
        code = str(body.get("code") or code)
        detail = str(body.get("detail") or detail)
    return ElementError(status, code, detail)


def _error(resp: httpx.Response) -> ElementError:
    try:
        body = resp.json()
    except ValueError:
        body = None
    return error_from(resp.status_code, body)


class ElementClient:
    def __init__(self, http: ServiceClient, fast: Any = None) -> None:
        self.http = http
        # тела файлов (PUT, PATCH) идут через FastTransport, остальное — через ServiceClient
        self.fast = fast

    async def _send_body(self, base: str, method: str, path: str, content: Any,
                         headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if self.fast is not None:
            status, resp_headers, raw = await self.fast.send(base, method, path, content=content, headers=headers)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            return status, resp_headers, body
        resp = await self._call(base, method, path, content=content, headers=headers)
        try:
            body = resp.json() if resp.content else None
        except ValueError:
            body = None
        return resp.status_code, dict(resp.headers), body

    async def _call(self, base: str, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return await self.http.request(base, method, path, **kw)
        except ProblemError as exc:  # предохранитель разомкнут или элемент не отвечает
            raise ElementError(0, exc.code, exc.detail) from exc
        except httpx.HTTPError as exc:  # обрыв во время передачи потокового тела
            self.http.breaker(base).record_failure()
            raise ElementError(0, "upstream_failed", f"{base}: {type(exc).__name__}: {exc}") from exc

    async def put_file(self, base: str, file_id: str, meta: dict[str, Any], content: Any, *,
                       length: int | None = None, expected_sha256: str | None = None) -> dict[str, Any]:
        headers = {"X-Artstore-Meta": encode_meta(meta), "Content-Type": "application/octet-stream"}
        if length is not None:
            headers["Content-Length"] = str(length)
        if expected_sha256:
            headers["X-Expected-SHA256"] = expected_sha256
        status, _, body = await self._send_body(base, "PUT", f"/api/v1/files/{_seg(file_id)}", content, headers)
        if status not in (200, 201) or not isinstance(body, dict):
            raise error_from(status, body)
        return body

    async def get_attr(self, base: str, file_id: str) -> dict[str, Any] | None:
        resp = await self._call(base, "GET", f"/api/v1/files/{_seg(file_id)}")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise _error(resp)
        return dict(resp.json())

    async def delete_file(self, base: str, file_id: str) -> bool:
        resp = await self._call(base, "DELETE", f"/api/v1/files/{_seg(file_id)}")
        if resp.status_code == 404:
            return False
        if resp.status_code not in (200, 204):
            raise _error(resp)
        return True

    @asynccontextmanager
    async def content(self, base: str, file_id: str, *, raw: bool = True) -> AsyncIterator[httpx.Response]:
        try:
            async with self.http.stream(base, "GET", f"/api/v1/files/{_seg(file_id)}/content",
                                        params={"raw": "true"} if raw else None) as resp:
                if resp.status_code != 200:
                    await resp.aread()
                    raise _error(resp)
                yield resp
        except ProblemError as exc:
            raise ElementError(0, exc.code, exc.detail) from exc

    # --- частичные загрузки (tus на стороне элемента) ------------------------------------------------
    async def create_upload(self, base: str, upload_id: str, length: int, meta: dict[str, Any],
                            expires_in: int) -> dict[str, Any]:
        body = {"upload_id": upload_id, "file_id": upload_id, "length": length, "meta": meta,
                "expires_in": expires_in}
        resp = await self._call(base, "POST", "/api/v1/uploads", json=body)
        if resp.status_code not in (200, 201):
            raise _error(resp)
        return dict(resp.json())

    async def upload_state(self, base: str, upload_id: str) -> dict[str, Any] | None:
        resp = await self._call(base, "GET", f"/api/v1/uploads/{_seg(upload_id)}")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise _error(resp)
        return dict(resp.json())

    async def patch_upload(self, base: str, upload_id: str, offset: int, content: Any,
                           length: int | None = None) -> int:
        headers = {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        if length is not None:
            headers["Content-Length"] = str(length)
        status, resp_headers, body = await self._send_body(base, "PATCH", f"/api/v1/uploads/{_seg(upload_id)}",
                                                           content, headers)
        if status not in (200, 204):
            raise error_from(status, body)
        new_offset = resp_headers.get("Upload-Offset") or resp_headers.get("upload-offset")
        if new_offset:
            return int(new_offset)
        return int(body["offset"]) if isinstance(body, dict) else 0

    async def commit_upload(self, base: str, upload_id: str) -> dict[str, Any]:
        resp = await self._call(base, "POST", f"/api/v1/uploads/{_seg(upload_id)}/commit")
        if resp.status_code not in (200, 201):
            raise _error(resp)
        return dict(resp.json())

    async def delete_upload(self, base: str, upload_id: str) -> None:
        resp = await self._call(base, "DELETE", f"/api/v1/uploads/{_seg(upload_id)}")
        if resp.status_code not in (200, 204, 404):
            raise _error(resp)
