"""JSON-логи с request_id и trace_id (docs/architecture.md §9); текстовый формат — для разработки."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("artstore_request_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("artstore_user_id", default=None)


def _current_trace_id() -> str | None:
    try:
        from opentelemetry import trace
    except ImportError:  # pragma: no cover - opentelemetry в зависимостях, но логи не должны падать
        return None
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


class ContextFilter(logging.Filter):
    """Добавляет в каждую запись поля контекста запроса и сервиса."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = request_id_var.get()
        record.user_id = user_id_var.get()
        record.trace_id = _current_trace_id()
        return True


_JSON_FIELDS = "%(levelname)s %(name)s %(message)s %(module)s %(funcName)s %(lineno)d"
_TEXT_FORMAT = "%(asctime)s %(levelname)-7s [%(service)s] %(name)s: %(message)s (req=%(request_id)s trace=%(trace_id)s)"


def setup_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Настраивает корневой логгер процесса; повторный вызов заменяет обработчик, а не добавляет."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(ContextFilter(service))
    if fmt == "text":
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    else:
        handler.setFormatter(
            JsonFormatter(
                _JSON_FIELDS,
                rename_fields={
                    "levelname": "level",
                    "name": "logger",
                    "funcName": "function",
                    "lineno": "line",
                },
                timestamp=True,
                json_ensure_ascii=False,
            )
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_artstore", False):
            root.removeHandler(old)
    handler._artstore = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn.access дублирует наш журнал запросов и пишет не в JSON
    logging.getLogger("uvicorn.access").disabled = True
    # строка на каждый исходящий запрос httpx — шум; ошибки клиент логирует сам
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
