"""Быстрые маршруты сервисов (artstore_common._fastpath) — те самые горячие адреса, и у каждого есть
двойник в OpenAPI: клиенты и документация видят один и тот же API, каким бы путём ни шёл запрос."""

from __future__ import annotations

import importlib

import pytest

HOT = {
    "storage_element.app": {("PUT", "/api/v1/files/{file_id}"), ("GET", "/api/v1/files/{file_id}/content")},
    "ingester_module.app": {("POST", "/api/v1/files/upload")},
    "query_module.app": {("GET", "/api/v1/files/{file_id}/download")},
}


@pytest.mark.parametrize("module", sorted(HOT))
def test_hot_routes_are_fast_and_documented(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    app = importlib.import_module(module).create_app()
    fast = {(r.method, r.path) for r in app.state.fast_routes.routes}
    assert fast == HOT[module]
    paths = app.openapi()["paths"]
    for method, path in fast:
        assert method.lower() in paths.get(path, {}), f"{method} {path} нет в OpenAPI"
