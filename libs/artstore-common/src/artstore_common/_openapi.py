"""OpenAPI, говорящая правду: кто требует токен, где его взять, что приходит при ошибке, как зовут операцию.

FastAPI сам не знает, что ``current_principal`` — это OAuth 2.0: без схемы безопасности в ``/docs`` нет кнопки
Authorize, а сгенерированный клиент не подставляет токен. Ошибки у нас — RFC 9457 problem+json, а FastAPI
описывает 422 своей схемой ``HTTPValidationError``, которой сервис никогда не отвечает. Имена операций по
умолчанию (``file_metadata_api_v1_files__file_id__get``) превращаются в имена методов клиента. Всё это
правится здесь один раз для четырёх сервисов — над схемой, которую построил FastAPI.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.utils import generate_unique_id

from ._auth import current_principal
from ._errors import PROBLEM_CONTENT_TYPE
from ._state import service_state

SECURITY_SCHEME = "OAuth2"
TOKEN_PATH = "/api/v1/auth/token"  # noqa: S105 - путь, не секрет
# Словарь scope admin-module (docs/architecture.md §6.3): scope сужает роль токена до названной.
SCOPES = {"admin": "всё (роль ADMIN)", "user": "загрузка, чтение, удаление своего (USER)",
          "auditor": "чтение и аудит (AUDITOR)", "readonly": "поиск и скачивание (READONLY)"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "Ошибка в формате RFC 9457 (application/problem+json); code — стабильный машинный код.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "URI вида ошибки"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "что случилось и что делать — для человека"},
        "code": {"type": "string", "description": "машинный код: file_not_found, validation_error, …"},
        "errors": {"type": "array", "description": "поля запроса, не прошедшие проверку (422)",
                   "items": {"type": "object", "properties": {"field": {"type": "string"},
                                                              "message": {"type": "string"}}}},
    },
    "additionalProperties": True,
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_AUTH_ERRORS = {"401": "Нет токена, он истёк или подпись не сходится (WWW-Authenticate: Bearer)",
                "403": "Роли токена не хватает для операции"}


def _needs_token(dependant: Dependant) -> bool:
    return any(dep.call is current_principal or _needs_token(dep) for dep in dependant.dependencies)


def _fastapi_validation(response: dict[str, Any]) -> bool:
    """Ответ, который FastAPI описал своей схемой HTTPValidationError: сервис так никогда не отвечает."""
    return "HTTPValidationError" in str(response.get("content"))


def _camel(name: str) -> str:
    head, *rest = [p for p in re.split(r"[^0-9A-Za-z]+", name) if p]
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_REF}}}


def _token_url(app: FastAPI) -> str:
    """Публичный адрес выдачи токенов: iss токенов — адрес admin-module (RFC 8414 §2, ARTSTORE_JWT_ISSUER)."""
    from ._settings import ServiceSettings

    issuer = str(service_state(app).issuer or ServiceSettings.model_fields["jwt_issuer"].default)
    return issuer.rstrip("/") + TOKEN_PATH


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                         tags=app.openapi_tags)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = {SECURITY_SCHEME: {
        "type": "oauth2",
        "description": "OAuth 2.0 client credentials (RFC 6749 §4.4): client_id и client_secret сервисного "
                       "аккаунта → Bearer JWT (RS256). Метаданные сервера — /.well-known/oauth-authorization-server "
                       "admin-module.",
        "flows": {"clientCredentials": {"tokenUrl": _token_url(app), "scopes": SCOPES}},
    }}
    # FastAPI ≥ 0.160 держит подключённые маршрутизаторы вложенными: маршрут с его путём — через контекст
    routes: dict[tuple[str, str], Any] = {
        (str(r.path_format), m.lower()): r for r in iter_route_contexts(app.routes)
        if isinstance(r.original_route, APIRoute) and r.include_in_schema for m in (r.methods or ())}
    taken: set[str] = set()
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            route = routes.get((path, method))
            if route is None:
                continue
            if op.get("operationId") == generate_unique_id(route):  # имя не задано маршрутом — даём читаемое
                name = _camel(route.name)
                op["operationId"] = name if name not in taken else name + method.capitalize()
            taken.add(op["operationId"])
            responses = op.setdefault("responses", {})
            if _needs_token(route.dependant):
                op["security"] = [{SECURITY_SCHEME: []}]
                for status, text in _AUTH_ERRORS.items():
                    responses.setdefault(status, _problem(text))
            for status, response in list(responses.items()):
                # своё тело ошибки маршрут описывает сам (OAuth 2.0 у выдачи токенов — RFC 6749 §5.2)
                if status[:1] in ("4", "5") and (not response.get("content") or _fastapi_validation(response)):
                    responses[status] = {**response, "content": {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_REF}}}
                    if status == "422":
                        responses[status]["description"] = "Запрос не прошёл проверку (поля — в errors)"
            responses.setdefault("default", _problem("Любая другая ошибка — problem+json с понятным detail"))
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
