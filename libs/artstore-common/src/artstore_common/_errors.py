"""RFC 9457 problem+json: одно семейство исключений и один набор обработчиков."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_CONTENT_TYPE = "application/problem+json"
_log = logging.getLogger("artstore.errors")


class ProblemError(Exception):
    """Бизнес-ошибка с HTTP-статусом и стабильным машинным кодом.

    ``detail`` — сообщение, по которому человек может действовать; ``extra`` попадает в тело как
    дополнительные члены объекта проблемы (RFC 9457 §3.2).
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}
        self.extra = extra or {}


def problem_body(status: int, code: str, detail: str, title: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://artstore.dev/problems/{code.replace('_', '-')}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return body


def problem_response(
    status: int, code: str, detail: str, *, title: str | None = None, headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, title, **extra),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    411: "length_required",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


async def _problem_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.code, exc.detail, title=exc.title, headers=exc.headers, **exc.extra)


async def _http_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    if status == 404 and detail == "Not Found":
        detail = "Такого адреса нет в API; список маршрутов — в /docs"
    if status == 405:
        detail = "Метод не поддерживается для этого адреса; см. /docs"
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(status, _CODES_BY_STATUS.get(status, "http_error"), detail, headers=headers)


def _loc(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header"))


async def _validation_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _loc(e), "message": e.get("msg", "")} for e in exc.errors()]
    summary = "; ".join(f"{e['field'] or 'тело'}: {e['message']}" for e in errors[:5])
    return problem_response(422, "validation_error", f"Запрос не прошёл проверку: {summary}", errors=errors)


async def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    # Трассировка — только в журнал; клиент получает понятный ответ без внутренностей.
    _log.exception("необработанная ошибка при %s %s", request.method, request.url.path)
    return problem_response(500, "internal_error", "Внутренняя ошибка сервиса; подробности в журнале по request_id")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
