"""Состояние приложения, которое заводит ``create_service_app``, — одним типизированным объектом.

Библиотека больше не читает атрибуты ``app.state`` по имени (опечатка в имени там — ``AttributeError`` в
запросе, а тип — ``Any`` для mypy): реестр метрик, HTTP-метрики, проверки готовности, быстрые маршруты и
проверка токенов лежат в ``ServiceState``, его возвращает ``service_state(app)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.applications import Starlette

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ._auth import JWKSVerifier
    from ._fastpath import FastRoutes
    from ._health import HealthRegistry
    from ._metrics import HttpMetrics


@dataclass
class ServiceState:
    service: str
    registry: CollectorRegistry
    http_metrics: HttpMetrics
    health: HealthRegistry
    fast_routes: FastRoutes
    # издатель токенов (ARTSTORE_JWT_ISSUER): от него OpenAPI строит адрес выдачи токенов для Authorize
    issuer: str | None = None
    # проверка токенов: сервис ставит её в lifespan (у admin — свои ключи, у остальных — JWKS admin)
    verifier: JWKSVerifier | None = None

    def token_verifier(self) -> JWKSVerifier:
        if self.verifier is None:
            raise RuntimeError(f"{self.service}: проверка токенов не настроена (ServiceState.verifier в lifespan)")
        return self.verifier


def service_state(app: Starlette) -> ServiceState:
    state = getattr(app.state, "artstore", None)
    if not isinstance(state, ServiceState):
        raise RuntimeError("приложение собрано не artstore_common.create_service_app: нет ServiceState")
    return state
