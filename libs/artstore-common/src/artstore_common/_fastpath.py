"""Горячие маршруты мимо маршрутизатора FastAPI — объявленные один раз.

Путь запроса через FastAPI — обход списка маршрутов (регулярное выражение на каждый), ExceptionMiddleware,
AsyncExitStack, разбор и проверка зависимостей, обёртка ответа — стоит 200–250 мкс CPU на запрос на этой
машине (тот же маршрут на голом ASGI с нашими middleware — 25–40 мкс). Для загрузки 64 КиБ это два таких
перехода (ingester и элемент), для скачивания — тоже два (query и элемент).

Поэтому самые частые маршруты объявляются декоратором ``HotRouter.hot``: из одного объявления (путь,
методы, роли, параметры функции с их типами) строится и маршрут FastAPI — он даёт OpenAPI и служит
запасным путём, — и запись в короткой таблице ``FastRoutes``, которую middleware внутри наших (журнал,
request_id, метрики, CORS) сверяет с методом и путём. Быстрый путь проверяет роли и параметры по тем же
типам pydantic, что и FastAPI, и отвечает на ошибки теми же обработчиками problem+json, так что документация,
роли и проверки не могут разойтись с тем, что работает. Непредусмотренные исключения уходят, как и раньше,
в ServerErrorMiddleware.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from ._auth import Principal, Role, authorize, current_principal, require_roles
from ._state import service_state

FastHandler = Callable[[Request], Awaitable[Response]]
Endpoint = Callable[..., Awaitable[Response]]


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


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    source: str  # request | principal | path | query
    adapter: TypeAdapter[Any] | None = None
    default: Any = inspect.Parameter.empty
    alias: str = ""


@dataclass(frozen=True, slots=True)
class HotRoute:
    """Одно объявление горячего маршрута: из него — и маршрут FastAPI, и запись быстрого пути."""

    path: str
    methods: tuple[str, ...]
    endpoint: Endpoint
    roles: frozenset[Role] | None
    params: tuple[_Param, ...]

    async def handle(self, request: Request) -> Response:
        """Быстрый путь: та же проверка токена и ролей, те же типы параметров, что у FastAPI."""
        principal = await authorize(request, self.roles)
        kwargs: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for p in self.params:
            if p.source == "request":
                kwargs[p.name] = request
            elif p.source == "principal":
                kwargs[p.name] = principal
            else:
                raw = request.path_params.get(p.name) if p.source == "path" else (
                    request.query_params.get(p.alias) if request.scope.get("query_string") else None)
                if raw is None:
                    if p.default is inspect.Parameter.empty:
                        errors.append({"type": "missing", "loc": (p.source, p.alias), "msg": "Field required",
                                       "input": None})
                    else:
                        kwargs[p.name] = p.default
                    continue
                assert p.adapter is not None
                try:
                    kwargs[p.name] = p.adapter.validate_python(raw)
                except ValidationError as exc:
                    errors.extend({**e, "loc": (p.source, p.alias, *e["loc"])} for e in exc.errors(include_url=False))
        if errors:
            raise RequestValidationError(errors)
        return await self.endpoint(**kwargs)


class HotRouter(APIRouter):
    """``APIRouter``, который помнит свои горячие маршруты; подключается через ``include_routers``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hot_routes: list[HotRoute] = []

    def hot(self, path: str, *, methods: list[str], roles: frozenset[Role] | None = None,
            **route_kwargs: Any) -> Callable[[Endpoint], Endpoint]:
        """Объявить горячий маршрут. ``roles=None`` — любой действительный токен.

        Параметры функции: ``Request``, ``Principal`` (вызывающий, уже с проверенной ролью), параметры
        пути и строки запроса — простые типы или ``Annotated`` с ограничениями pydantic/FastAPI.
        """

        def decorate(fn: Endpoint) -> Endpoint:
            hints = typing.get_type_hints(fn, include_extras=True)
            path_names = set(compile_path(self.prefix + path)[2])
            params: list[_Param] = []
            fastapi_params: list[inspect.Parameter] = []
            wants_principal = False
            for p in inspect.signature(fn).parameters.values():
                annotation = hints.get(p.name, Any)
                base = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated \
                    else annotation
                if base is Request:
                    params.append(_Param(p.name, "request"))
                elif base is Principal:
                    wants_principal = True
                    params.append(_Param(p.name, "principal"))
                    dep = require_roles(*roles) if roles is not None else Depends(current_principal)
                    fastapi_params.append(p.replace(annotation=Principal, default=dep))
                    continue
                else:
                    source = "path" if p.name in path_names else "query"
                    params.append(_Param(p.name, source, TypeAdapter(annotation), p.default,
                                         _alias(annotation) or p.name))
                fastapi_params.append(p.replace(annotation=annotation))

            @functools.wraps(fn)
            async def endpoint(**kwargs: Any) -> Response:
                return await fn(**kwargs)

            # FastAPI читает параметры из __signature__: аннотации уже разрешены, роль — зависимостью
            endpoint.__signature__ = inspect.Signature(fastapi_params)  # type: ignore[attr-defined]
            dependencies = list(route_kwargs.pop("dependencies", []))
            if not wants_principal:
                dependencies.append(require_roles(*roles) if roles is not None else Depends(current_principal))
            operation_id = route_kwargs.pop("operation_id", None)
            for i, method in enumerate(methods):
                # маршрут на метод: у каждой операции OpenAPI свой operationId (HEAD — с суффиксом)
                op = operation_id and (operation_id if i == 0 else f"{operation_id}{method.capitalize()}")
                self.add_api_route(path, endpoint, methods=[method], dependencies=dependencies, operation_id=op,
                                   **route_kwargs)
            self.hot_routes.append(HotRoute(self.prefix + path, tuple(m.upper() for m in methods), fn, roles,
                                            tuple(params)))
            return fn

        return decorate


def _alias(annotation: Any) -> str | None:
    for meta in typing.get_args(annotation)[1:] if typing.get_origin(annotation) is typing.Annotated else ():
        alias = getattr(meta, "alias", None)
        if isinstance(alias, str):
            return alias
    return None


def include_routers(app: FastAPI, *routers: APIRouter) -> None:
    """Подключить маршрутизаторы; горячие маршруты ``HotRouter`` попадают ещё и в быстрый путь приложения."""
    fast = service_state(app).fast_routes
    for router in routers:
        app.include_router(router)
        for route in getattr(router, "hot_routes", ()):
            for method in route.methods:
                fast.add(method, route.path, route.handle)


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
