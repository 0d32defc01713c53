"""Горячие маршруты мимо маршрутизатора FastAPI.

Путь запроса через FastAPI — обход списка маршрутов (регулярное выражение на каждый), ExceptionMiddleware,
AsyncExitStack, разбор и проверка зависимостей, обёртка ответа — стоит 200–250 мкс CPU на запрос на этой
машине (замер в процессе, без сети: тот же маршрут на голом ASGI с нашими middleware — 25–40 мкс). Для
загрузки 64 КиБ это два таких перехода (ingester и элемент), для скачивания — тоже два (query и элемент).

Поэтому несколько самых частых маршрутов сервис регистрирует ещё и здесь: middleware, стоящий внутри
наших (журнал, request_id, метрики, CORS), сверяет метод и путь с короткой таблицей и вызывает ту же
функцию-обработчик, что и маршрут FastAPI, сам проверив токен и параметры. Маршрут FastAPI остаётся —
в OpenAPI и как запасной путь для всего, что сюда не подходит. Ошибки обработчика отвечают теми же
обработчиками problem+json, что и у FastAPI; непредусмотренные уходят, как и раньше, в ServerErrorMiddleware.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from ._errors import ProblemError

FastHandler = Callable[[Request], Awaitable[Response]]
_TRUE = frozenset({"1", "true", "on", "yes", "t", "y"})
_FALSE = frozenset({"0", "false", "off", "no", "f", "n"})


@dataclass(frozen=True, slots=True)
class FastRoute:
    method: str
    path: str  # шаблон, как у маршрута FastAPI: им же подписаны метрики запросов
    regex: re.Pattern[str]
    handler: FastHandler


@dataclass
class FastRoutes:
    routes: list[FastRoute] = field(default_factory=list)

    def add(self, method: str, path: str, handler: FastHandler) -> None:
        regex, _, convertors = compile_path(path)
        if any(type(c).__name__ != "StringConvertor" for c in convertors.values()):
            raise ValueError(f"{path}: в быстром маршруте допустимы только строковые параметры")
        self.routes.append(FastRoute(method.upper(), path, regex, handler))

    def match(self, method: str, path: str) -> tuple[FastRoute, dict[str, str]] | None:
        for route in self.routes:
            if route.method == method:
                m = route.regex.match(path)
                if m is not None:
                    return route, m.groupdict()
        return None


def query_flag(request: Request, name: str, default: bool = False) -> bool:
    """Булев параметр строки запроса с теми же допустимыми значениями, что у FastAPI (иначе 422)."""
    if not request.scope.get("query_string"):
        return default
    raw = request.query_params.get(name)
    if raw is None:
        return default
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ProblemError(422, "validation_error", f"Запрос не прошёл проверку: {name}: ожидается true или false",
                       extra={"errors": [{"field": name, "message": "ожидается true или false"}]})


class FastPathMiddleware:
    def __init__(self, app: ASGIApp, routes: FastRoutes, exception_handlers: dict[Any, Callable[..., Any]]) -> None:
        self.app = app
        self.routes = routes
        # тот же словарь, что у приложения: обработчики, добавленные позже, тоже видны
        self.exception_handlers = exception_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.routes.routes:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        found = self.routes.match(scope["method"], path)
        if found is None:
            await self.app(scope, receive, send)
            return
        route, params = found
        scope["route"] = route
        scope["path_params"] = params
        request = Request(scope, receive, send)
        try:
            response = await route.handler(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise  # непредусмотренное — в ServerErrorMiddleware: журнал и 500 problem+json
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Callable[..., Any] | None:
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                return handler
        return None
