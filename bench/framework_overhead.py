"""CPU на запрос у пути через маршрутизатор FastAPI и у быстрого маршрута (artstore_common._fastpath).

Запуск: ``.venv/bin/python bench/framework_overhead.py``. Без сети и без сервисов: приложение из
``create_service_app`` (со всеми middleware и CORS) вызывается напрямую по ASGI; токен проверяет
заглушка верификатора — мерится путь запроса, а не RSA (его кэширует JWKSVerifier).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from artstore_common import Role, authorize, create_service_app, require_roles, service_state
from artstore_common._auth import Principal

URL = "/api/v1/files/abc-123/download"
SCOPE: dict[str, Any] = {
    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
    "path": URL, "raw_path": URL.encode(), "query_string": b"", "root_path": "",
    "headers": [(b"host", b"x"), (b"authorization", b"Bearer t"), (b"range", b"bytes=-10")],
    "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
}
FileId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]


class _Verifier:
    principal = Principal(subject="s", client_id="c", role=Role.ADMIN, name="n", token_id=None, claims={"exp": 9e12})

    async def verify(self, token: str) -> Principal:
        return self.principal


def _app(fast: bool) -> Any:
    app = create_service_app(service="bench", version="1", title="bench", description="bench",
                             cors_origins=["http://ui.example"])
    service_state(app).verifier = _Verifier()
    router = APIRouter(prefix="/api/v1/files")

    @router.get("/{file_id}/download", dependencies=[require_roles(Role.ADMIN)], response_class=Response)
    async def download(file_id: FileId, request: Request) -> Response:
        return Response(b"x" * 100, headers={"etag": '"e"'})

    app.include_router(router)
    if fast:
        async def fast_download(request: Request) -> Response:
            await authorize(request)
            return await download(request.path_params["file_id"], request)

        service_state(app).fast_routes.add("GET", "/api/v1/files/{file_id}/download", fast_download)
    return app


async def _measure(app: Any, n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async with app.router.lifespan_context(app):
        for _ in range(n // 10):
            await app({**SCOPE, "state": {}}, receive, send)
        started = time.process_time()
        for _ in range(n):
            await app({**SCOPE, "state": {}}, receive, send)
        return (time.process_time() - started) / n * 1e6


async def main() -> None:
    out: dict[str, list[float]] = {"fastapi_route_us": [], "fast_route_us": []}
    for _ in range(3):
        out["fastapi_route_us"].append(round(await _measure(_app(False), 10_000), 1))
        out["fast_route_us"].append(round(await _measure(_app(True), 10_000), 1))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
