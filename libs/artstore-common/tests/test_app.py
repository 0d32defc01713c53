"""Общая сборка приложения: problem+json, здоровье, метрики по шаблону маршрута, журнал, трассировка."""

from __future__ import annotations

import io
import json
import logging
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from artstore_common import (
    FileId,
    HotRouter,
    JWKSVerifier,
    Principal,
    ProblemError,
    Role,
    create_service_app,
    include_routers,
    roles,
    service_state,
    setup_logging,
    setup_tracing,
)
from artstore_common._fastpath import FastRoute
from artstore_common.testing import TEST_AUDIENCE, TEST_ISSUER, JWKSServer, TokenFactory


class Item(BaseModel):
    size: int


def make_app(name: str = "svc") -> FastAPI:
    app = create_service_app(service=name, version="1", title=name, description=name)

    @app.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise ProblemError(404, "file_not_found", "Файл 0 не найден")
        if item_id == 13:
            raise RuntimeError("секретная внутренность")
        return {"id": item_id}

    @app.post("/items")
    async def post_item(item: Item) -> Item:
        return item

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t")


async def test_problem_json_shapes() -> None:
    async with client(make_app()) as c:
        r = await c.get("/items/0")
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["code"] == "file_not_found" and body["status"] == 404 and body["detail"] and body["type"]
        r = await c.post("/items", json={"size": "много"})
        assert r.status_code == 422 and r.json()["code"] == "validation_error"
        assert "size" in r.json()["detail"]
        r = await c.get("/nowhere")
        assert r.status_code == 404 and r.json()["code"] == "not_found"


async def test_unhandled_error_is_500_problem_without_traceback() -> None:
    async with client(make_app()) as c:
        r = await c.get("/items/13")
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error"
    assert "секретная" not in r.text and "Traceback" not in r.text


def make_fast_app(jwks_url: str) -> FastAPI:
    """Горячий маршрут, объявленный один раз, и обычный маршрут FastAPI на тот же адрес с другим методом."""
    app = create_service_app(service="fast", version="1", title="fast", description="fast",
                             cors_origins=["http://ui.test"])
    service_state(app).verifier = JWKSVerifier(jwks_url, TEST_ISSUER, TEST_AUDIENCE)
    router = HotRouter(prefix="/things", tags=["things"])

    @router.hot("/{thing_id}", methods=["GET", "HEAD"], roles=roles(Role.ADMIN, Role.USER))
    async def get_thing(request: Request, thing_id: FileId, principal: Principal,
                        raw: Annotated[bool, Query(description="сырой вид")] = False, limit: int = 10) -> Response:
        if thing_id == "missing":
            raise ProblemError(404, "file_not_found", "Вещи missing нет")
        if thing_id == "boom":
            raise RuntimeError("секретная внутренность")
        via = "fast" if isinstance(request.scope.get("route"), FastRoute) else "fastapi"
        return JSONResponse({"via": via, "id": thing_id, "raw": raw, "limit": limit, "role": principal.role})

    @router.delete("/{thing_id}")
    async def delete_thing(thing_id: str) -> dict[str, str]:
        return {"via": "fastapi-delete", "id": thing_id}

    include_routers(app, router)
    return app


async def test_fast_route_bypasses_router_but_keeps_service_middleware(
        jwks_server: JWKSServer, token_factory: TokenFactory) -> None:
    auth = token_factory.headers("USER")
    async with client(make_fast_app(jwks_server.url)) as c:
        r = await c.get("/things/a1?raw=true", headers={**auth, "X-Request-ID": "req-fast", "Origin": "http://ui.test"})
        assert r.status_code == 200
        assert r.json() == {"via": "fast", "id": "a1", "raw": True, "limit": 10, "role": "USER"}
        assert r.headers["x-request-id"] == "req-fast"
        assert r.headers["access-control-allow-origin"] == "http://ui.test"
        # другой метод того же адреса и другие адреса — по-прежнему FastAPI
        assert (await c.delete("/things/a1")).json()["via"] == "fastapi-delete"
        assert (await c.get("/things/a1/more", headers=auth)).status_code == 404
        r = await c.get("/things/missing", headers=auth)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "file_not_found"
        r = await c.get("/things/boom", headers=auth)
        assert r.status_code == 500 and r.json()["code"] == "internal_error"
        assert "секретная" not in r.text and "Traceback" not in r.text
        text = (await c.get("/metrics")).text
        # метрики подписаны шаблоном маршрута, как у маршрутов FastAPI
        assert 'http_requests_total{method="GET",route="/things/{thing_id}",service="fast",status="200"} 1.0' in text
        assert 'route="/things/{thing_id}",service="fast",status="404"} 1.0' in text
        # в OpenAPI адрес — из того же объявления: параметры и их типы
        op = (await c.get("/openapi.json")).json()["paths"]["/things/{thing_id}"]["get"]
        params = {p["name"]: (p["in"], p["required"], p["schema"].get("type")) for p in op["parameters"]}
        assert params == {"thing_id": ("path", True, "string"), "raw": ("query", False, "boolean"),
                          "limit": ("query", False, "integer")}


def _without_fast_path(app: FastAPI) -> FastAPI:
    service_state(app).fast_routes.routes.clear()
    return app


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "fastapi"])
async def test_hot_route_checks_roles_and_parameters_the_same_way_on_both_paths(
        fast: bool, jwks_server: JWKSServer, token_factory: TokenFactory) -> None:
    """Роли и параметры горячего маршрута — одни и те же, идёт ли запрос быстрым путём или через FastAPI."""
    app = make_fast_app(jwks_server.url)
    if not fast:
        _without_fast_path(app)
    async with client(app) as c:
        for role, status in (("ADMIN", 200), ("USER", 200), ("AUDITOR", 403), ("READONLY", 403)):
            r = await c.get("/things/a1", headers=token_factory.headers(role))
            assert r.status_code == status, role
            assert r.status_code == 200 or r.json()["code"] == "forbidden"
        r = await c.get("/things/a1")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        auth = token_factory.headers("ADMIN")
        r = await c.get("/things/a1?raw=maybe&limit=x", headers=auth)
        assert r.status_code == 422 and r.json()["code"] == "validation_error"
        assert {e["field"] for e in r.json()["errors"]} == {"raw", "limit"}
        r = await c.get("/things/x..y", headers=auth)  # правило id файла — тип параметра пути
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "thing_id"
        r = await c.head("/things/a1?raw=1", headers=auth)
        assert r.status_code == 200 and r.content == b""
        assert (await c.get("/things/a1?raw=1", headers=auth)).json()["via"] == ("fast" if fast else "fastapi")


async def test_health_ready_503_with_reason() -> None:
    app = make_app()

    async def db() -> str | None:
        raise ConnectionError("PostgreSQL недоступен")

    async def cache() -> str | None:
        return "работаю из файла"

    service_state(app).health.add("db", db)
    service_state(app).health.add("discovery", cache, critical=False)
    async with client(app) as c:
        assert (await c.get("/health/live")).status_code == 200
        r = await c.get("/health/ready")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["db"]["status"] == "fail" and "PostgreSQL" in checks["db"]["detail"]
    assert checks["discovery"]["status"] == "degraded"


async def test_metrics_per_app_and_route_template() -> None:
    a, b = make_app("a"), make_app("b")  # два приложения в одном процессе не конфликтуют
    async with client(a) as ca, client(b) as cb:
        for i in (1, 2, 3):
            await ca.get(f"/items/{i}")
        text = (await ca.get("/metrics")).text
        assert 'http_requests_total{method="GET",route="/items/{item_id}",service="a",status="200"} 3.0' in text
        assert "/items/1" not in text  # сырые пути не становятся метками
        assert "process_resident_memory_bytes" in text
        assert 'service="a"' not in (await cb.get("/metrics")).text


async def test_json_logs_carry_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("svc", "INFO", "json")
    root = logging.getLogger()
    handler = next(h for h in root.handlers if getattr(h, "_artstore", False))
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    async with client(make_app()) as c:
        r = await c.get("/items/5", headers={"X-Request-ID": "req-42"})
    assert r.headers["x-request-id"] == "req-42"
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    access = next(line for line in lines if line["logger"] == "artstore.access")
    for key in ("timestamp", "level", "logger", "message", "module", "function", "line", "request_id", "trace_id"):
        assert key in access
    assert access["request_id"] == "req-42"


async def test_tracing_spans_for_requests() -> None:
    exporter = InMemorySpanExporter()
    app = make_app("traced")
    assert setup_tracing(app, "traced", "1", processor=SimpleSpanProcessor(exporter))
    async with client(app) as c:
        await c.get("/items/7")
    names = [s.name for s in exporter.get_finished_spans()]
    assert any("/items/{item_id}" in n for n in names)


def test_tracing_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from artstore_common import tracing_enabled

    for var in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    assert not tracing_enabled()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing_enabled()


async def test_nul_in_path_or_query_is_400_before_routing() -> None:
    async with client(make_app()) as c:
        for url in ("/items/1%00", "/items/1?x=a%00b"):
            r = await c.get(url)
            assert r.status_code == 400 and r.json()["code"] == "bad_request", url
            assert r.headers["content-type"] == "application/problem+json"


# Страничные отказы на одно выделение «скопировать 1 МиБ» (по два выделения на итерацию); без настройки
# malloc — отказ на каждую страницу, с ней — почти ноль. Общая часть сценариев двух тестов ниже.
_FAULTS_PER_ALLOC = """
import os, resource

def faults_per_alloc():
    data = os.urandom(1 << 20)
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(100):
        chunk = bytes(bytearray(data))
        del chunk
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start) / 200
"""


def _run_script(body: str) -> dict[str, Any]:
    """Сценарий — в отдельном процессе: gc и malloc настраиваются на весь интерпретатор, тестовый процесс
    их не трогает. Возвращает JSON из последней строки вывода."""
    import subprocess
    import sys
    import textwrap

    script = _FAULTS_PER_ALLOC + textwrap.dedent(body)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_service_process_freezes_startup_heap_and_raises_gc_threshold() -> None:
    """run() включает настройку сборщика и malloc; после старта приложения куча заморожена и порог поднят."""
    got = _run_script("""
        import gc, json
        import uvicorn
        from fastapi.testclient import TestClient
        from artstore_common import _app, create_service_app

        uvicorn.run = lambda *a, **kw: None  # сервер не нужен: проверяем, что run() включает настройку
        before = (gc.get_freeze_count(), gc.get_threshold()[0])
        _app.run("x:y", "127.0.0.1", 0)
        with TestClient(create_service_app(service="s", version="1", title="s", description="s")):
            after = (gc.get_freeze_count(), gc.get_threshold()[0])
        print(json.dumps({"before": before, "after": after, "faults": faults_per_alloc()}))
    """)
    assert got["before"] == [0, 700]
    frozen, threshold = got["after"]
    assert frozen > 10_000 and threshold == 10_000
    assert got["faults"] < 10, got  # run() настроил и malloc (см. следующий тест)


def test_tune_malloc_keeps_megabyte_chunks_off_mmap() -> None:
    """После настройки повторное выделение куска в 1 МиБ не даёт страничных отказов (без неё — ~256 на МиБ)."""
    got = _run_script("""
        import json
        from artstore_common._app import tune_malloc

        before = faults_per_alloc()
        applied = tune_malloc()
        print(json.dumps({"before": before, "applied": applied, "after": faults_per_alloc()}))
    """)
    assert got["applied"] is True
    assert got["before"] > 100, got  # без настройки: mmap и отказ на каждую страницу
    assert got["after"] < 10, got


def test_library_reads_app_state_only_through_service_state() -> None:
    """Состояние, которое заводит create_service_app, — один типизированный ServiceState; чтение атрибутов
    app.state по имени (Any для mypy, AttributeError в запросе при опечатке) в библиотеке не осталось."""
    import re
    from pathlib import Path

    import artstore_common
    from artstore_common import ServiceState, create_service_app, service_state

    src = Path(artstore_common.__file__).parent
    offenders = [f"{p.name}:{n}" for p in sorted(src.glob("*.py")) if p.name != "testing.py"
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"\bapp\.state\.(?!artstore\b)|getattr\([a-z.]*state, \"(?!artstore\")", line)
                 and not line.lstrip().startswith("#")]
    assert offenders == []
    app = create_service_app(service="query-module", version="0", title="t", description="d")
    state = service_state(app)
    assert isinstance(state, ServiceState) and state.service == "query-module" and state.verifier is None
    with pytest.raises(RuntimeError, match="проверка токенов не настроена"):
        state.token_verifier()
    from fastapi import FastAPI

    with pytest.raises(RuntimeError, match="create_service_app"):
        service_state(FastAPI())
