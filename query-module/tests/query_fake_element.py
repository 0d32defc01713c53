"""Временный элемент хранения только для тестов, пока настоящий storage-element не готов.

Повторяет контракт docs/internal-api.md ровно настолько, насколько его использует query-module;
поиск — наивный (подстрока), морфологию проверяют только тесты с настоящим элементом.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from artstore_common import CurrentPrincipal, JWKSVerifier, ProblemError, create_service_app


def create_fake_element(element_id: str, mode: str, jwks_url: str, issuer: str) -> FastAPI:
    app = create_service_app(service="fake-element", version="0", title="fake", description="fake")
    app.state.jwt_verifier = JWKSVerifier(jwks_url, issuer, "artstore")
    files: dict[str, tuple[dict[str, Any], bytes]] = {}
    state = {"mode": mode}
    app.state.files = files

    @app.put("/api/v1/files/{file_id}", status_code=201)
    async def put(file_id: str, request: Request, _: CurrentPrincipal) -> dict[str, Any]:
        data = await request.body()
        meta = json.loads(base64.urlsafe_b64decode(request.headers["x-artstore-meta"] + "=="))
        now = datetime.now(UTC).isoformat()
        attr = {"file_id": file_id, "file_size": len(data), "checksum": hashlib.sha256(data).hexdigest(),
                "created_at": meta.get("created_at") or now, "storage_element_id": element_id,
                "tags": [], "description": "", **meta}
        files[file_id] = (attr, data)
        return attr

    @app.get("/api/v1/files/{file_id}")
    async def get(file_id: str, _: CurrentPrincipal) -> dict[str, Any]:
        if file_id not in files:
            raise ProblemError(404, "file_not_found", "нет")
        return files[file_id][0]

    @app.delete("/api/v1/files/{file_id}", status_code=204)
    async def delete(file_id: str, _: CurrentPrincipal) -> Response:
        files.pop(file_id, None)
        return Response(status_code=204)

    @app.post("/api/v1/files/{file_id}/restore", status_code=202)
    async def restore(file_id: str, _: CurrentPrincipal) -> dict[str, Any]:
        return {"file_id": file_id, "status": "restoring"}

    @app.get("/api/v1/files/{file_id}/content")
    async def content(file_id: str, request: Request, _: CurrentPrincipal) -> Response:
        if file_id not in files:
            raise ProblemError(404, "file_not_found", "нет")
        if state["mode"] == "ar":
            raise ProblemError(409, "file_archived", "в архиве")
        attr, data = files[file_id]
        n = len(data)
        etag = f'"{attr["checksum"]}"'
        headers = {"accept-ranges": "bytes", "etag": etag, "content-type": attr.get("content_type", ""),
                   "content-disposition": "attachment; filename*=UTF-8''" + quote(attr["original_filename"])}
        rng = request.headers.get("range")
        if rng and request.headers.get("if-range") not in (None, etag):
            rng = None
        if not rng:
            return Response(data, headers=headers)
        a, _, b = rng.removeprefix("bytes=").partition("-")
        start, end = (n - int(b), n - 1) if not a else (int(a), min(int(b), n - 1) if b else n - 1)
        if start >= n or start < 0:
            return JSONResponse({"code": "range_not_satisfiable"}, 416, headers={"content-range": f"bytes */{n}"})
        headers["content-range"] = f"bytes {start}-{end}/{n}"
        return Response(data[start:end + 1], 206, headers=headers)

    @app.post("/api/v1/mode")
    async def set_mode(body: dict[str, Any], _: CurrentPrincipal) -> dict[str, Any]:
        state["mode"] = body["mode"]
        return {"mode": body["mode"]}

    @app.post("/api/v1/search")
    async def search(body: dict[str, Any], _: CurrentPrincipal) -> dict[str, Any]:
        q = (body.get("query") or "").casefold()
        hits = [dict(a, rank=1.0) for a, _ in files.values()
                if q in json.dumps([a["original_filename"], a.get("description")], ensure_ascii=False).casefold()]
        key = {"file_size": "file_size", "name": "original_filename"}.get(body.get("sort_by", ""), "created_at")
        hits.sort(key=lambda a: (a[key], a["file_id"]))
        if body.get("sort_order") == "desc":
            hits.sort(key=lambda a: a[key], reverse=True)
        off = body.get("offset", 0)
        return {"results": hits[off: off + body["limit"]], "total_count": len(hits)}

    @app.get("/api/v1/search/suggest")
    async def suggest(prefix: str, _: CurrentPrincipal, limit: int = 10) -> dict[str, Any]:
        names = sorted({a["original_filename"] for a, _ in files.values()
                        if a["original_filename"].casefold().startswith(prefix.casefold())})
        return {"suggestions": [{"text": t, "kind": "filename", "score": 1.0} for t in names[:limit]]}

    return app
