"""Маршруты здоровья: /health/live всегда 200, /health/ready — 503 с причиной при сбое зависимости."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ._state import service_state

# Проверка возвращает None (всё в порядке) или строку с причиной деградации; исключение — отказ.
HealthCheck = Callable[[], Awaitable[str | None]]


@dataclass
class HealthRegistry:
    """Набор проверок готовности; ``critical=False`` — деградация без 503 (например, fallback discovery)."""

    checks: dict[str, tuple[HealthCheck, bool]] = field(default_factory=dict)
    timeout: float = 2.0

    def add(self, name: str, check: HealthCheck, *, critical: bool = True) -> None:
        self.checks[name] = (check, critical)

    async def run(self) -> tuple[bool, dict[str, dict[str, object]]]:
        async def one(name: str, check: HealthCheck, critical: bool) -> tuple[str, dict[str, object], bool]:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.timeout):  # не wait_for: тот в 3.11 может потерять отмену
                    note = await check()
                status = "degraded" if note else "ok"
                result: dict[str, object] = {"status": status}
                if note:
                    result["detail"] = note
                failed = False
            except Exception as exc:
                result = {"status": "fail", "detail": f"{type(exc).__name__}: {exc}"[:300]}
                failed = critical
            result["critical"] = critical
            result["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
            return name, result, failed

        outcomes = await asyncio.gather(*(one(n, c, crit) for n, (c, crit) in self.checks.items()))
        ready = not any(failed for _, _, failed in outcomes)
        return ready, {name: result for name, result, _ in outcomes}


def health_router(service: str, version: str) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health/live", summary="Процесс жив")
    async def live() -> dict[str, str]:
        return {"status": "alive", "service": service, "version": version}

    @router.get("/health/ready", summary="Готовность: все критичные зависимости доступны")
    async def ready(request: Request) -> JSONResponse:
        registry = service_state(request.app).health
        ok, checks = await registry.run()
        body = {"status": "ready" if ok else "not_ready", "service": service, "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    return router
