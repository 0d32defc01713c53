"""OpenAPI четырёх сервисов говорит правду (artstore_common._openapi): схема OAuth 2.0 client credentials с
настоящим адресом токенов на каждой защищённой операции, ошибки — problem+json (RFC 9457), читаемые и
уникальные operationId; openapi-spec-validator принимает схему. Живые /openapi.json флота —
tests/e2e/test_openapi.py."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from openapi_spec_validator import validate

MODULES = ("admin_module.app", "ingester_module.app", "query_module.app", "storage_element.app")
# Без токена — только это (docs/architecture.md §2); всё остальное обязано объявить схему безопасности.
PUBLIC = {
    ("get", "/health/live"), ("get", "/health/ready"), ("post", "/api/v1/auth/token"),
    ("get", "/.well-known/oauth-authorization-server"), ("get", "/.well-known/jwks.json"),
    ("post", "/api/v1/admin-auth/login"), ("post", "/api/v1/admin-auth/refresh"),
    ("get", "/api/v1/links/{token}"), ("head", "/api/v1/links/{token}"),
}


def _ops(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in schema["paths"].items() for method, op in item.items()]


def check_schema(schema: dict[str, Any], token_url: str) -> None:
    validate(schema)  # type: ignore[arg-type]
    flows = schema["components"]["securitySchemes"]["OAuth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == token_url
    assert set(flows["clientCredentials"]["scopes"]) == {"admin", "user", "auditor", "readonly"}
    assert "HTTPValidationError" not in str(schema), "422 описан схемой FastAPI, которой сервис не отвечает"
    ids = []
    for method, path, op in _ops(schema):
        ids.append(op["operationId"])
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", op["operationId"]), (method, path, op["operationId"])
        if (method, path) in PUBLIC:
            assert "security" not in op, (method, path)
        else:
            assert op.get("security") == [{"OAuth2": []}], f"{method.upper()} {path} без схемы безопасности"
            for status in ("401", "403"):
                assert "application/problem+json" in op["responses"][status]["content"], (method, path, status)
        for status, response in op["responses"].items():
            if status == "422" or status == "default":
                assert "application/problem+json" in response["content"], (method, path, status)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("module", MODULES)
def test_openapi_is_valid_secured_problem_json_and_named(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    app = importlib.import_module(module).create_app()
    check_schema(app.openapi(), "http://127.0.0.1:8000/api/v1/auth/token")


def test_token_url_follows_public_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    # адрес токенов — публичный адрес admin (iss, ARTSTORE_JWT_ISSUER), а не внутренний адрес в сети compose
    monkeypatch.setenv("ENVIRONMENT", "development")
    from query_module.app import create_app
    from query_module.settings import Settings

    app = create_app(Settings(jwt_issuer="https://artstore.example.org/"))
    app.state.settings = Settings(jwt_issuer="https://artstore.example.org/")
    flows = app.openapi()["components"]["securitySchemes"]["OAuth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "https://artstore.example.org/api/v1/auth/token"


def test_query_operations_have_client_friendly_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    from query_module.app import create_app

    ids = {op["operationId"] for *_, op in _ops(create_app().openapi())}
    assert {"searchFiles", "getFileMetadata", "downloadFile", "createFileLink", "downloadByLink",
            "revokeLink"} <= ids


def test_query_downloads_are_documented_as_binary_with_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    from query_module.app import create_app

    paths = create_app().openapi()["paths"]
    for path, errors in (("/api/v1/files/{file_id}/download", {"409"}),
                         ("/api/v1/links/{token}", {"403", "409", "410"})):
        op = paths[path]["get"]
        headers = {p["name"] for p in op["parameters"] if p["in"] == "header"}
        assert headers == {"Range", "If-Range", "If-None-Match"}, path
        responses = op["responses"]
        assert {"200", "206", "304", "416"} | errors <= set(responses), path
        for status in ("200", "206"):
            assert responses[status]["content"]["application/octet-stream"]["schema"]["format"] == "binary"
            assert {"ETag", "Accept-Ranges", "Content-Disposition"} <= set(responses[status]["headers"])
        assert "Content-Range" in responses["206"]["headers"]
        for status in errors:
            assert "application/problem+json" in responses[status]["content"], (path, status)


# Ответ, который клиент по схеме разбирает в тип, а не в «что-то JSON» (живой прогон — tests/e2e/test_openapi.py).
TYPED = {
    "ingester_module.app": [("/api/v1/files/upload", "post", "201", "UploadResult"),
                            ("/api/v1/batch/upload", "post", "200", "BatchUploadResult"),
                            ("/api/v1/batch/delete", "post", "200", "BatchDeleteResult"),
                            ("/api/v1/finalize/{file_id}", "post", "202", "Transaction"),
                            ("/api/v1/transactions", "get", "200", "TransactionPage"),
                            ("/api/v1/transactions/{tx_id}", "get", "200", "Transaction")],
    "query_module.app": [("/api/v1/files/{file_id}", "get", "200", "FileRecord"),
                         ("/api/v1/search", "get", "200", "SearchResponse")],
    "storage_element.app": [("/api/v1/files/{file_id}", "get", "200", "FileRecord")],
}


@pytest.mark.parametrize("module", sorted(TYPED))
def test_responses_are_typed(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    schema = importlib.import_module(module).create_app().openapi()
    for path, method, status, model in TYPED[module]:
        content = schema["paths"][path][method]["responses"][status]["content"]["application/json"]
        assert content["schema"] == {"$ref": f"#/components/schemas/{model}"}, (path, method, status)
    if module == "query_module.app":
        results = schema["components"]["schemas"]["SearchResponse"]["properties"]["results"]
        assert results["items"] == {"$ref": "#/components/schemas/FileRecord"}
