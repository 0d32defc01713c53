"""Выбор элемента хранения для новой загрузки по снимку discovery (ARCHITECTURE.md §4).

Порядок: элементы нужного режима (temporary → edit, permanent → rw), в сети, с замкнутым
предохранителем, со свободным местом под файл (когда размер известен), по возрастанию priority.
Элемент, только что ответивший 507, на короткое время считается полным — снимок discovery
обновляется не мгновенно, а повторять заведомо неудачную попытку на каждой загрузке дорого.
"""

from __future__ import annotations

import time
from typing import Any

from artstore_common import CircuitState, DiscoveryClient, ProblemError, ServiceClient

from .metrics import IngesterMetrics

MODE_FOR_POLICY = {"temporary": "edit", "permanent": "rw"}
FULL_COOLDOWN = 15.0


class Placement:
    def __init__(self, discovery: DiscoveryClient, http: ServiceClient, metrics: IngesterMetrics) -> None:
        self.discovery = discovery
        self.http = http
        self.metrics = metrics
        self._full_until: dict[str, float] = {}

    def candidates(self, retention_policy: str, size: int | None = None) -> list[dict[str, Any]]:
        """Подходящие элементы в порядке предпочтения; пустой список — размещать некуда."""
        mode = MODE_FOR_POLICY[retention_policy]
        now = time.monotonic()
        preferred: list[dict[str, Any]] = []
        probing: list[dict[str, Any]] = []
        for el in self.discovery.elements:
            if el.get("mode") != mode or el.get("status", "online") != "online" or not el.get("api_url"):
                continue
            if self._full_until.get(el["id"], 0.0) > now:
                continue
            free = el.get("free_bytes")
            if size is not None and isinstance(free, int) and free < size:
                self.metrics.placement.labels(el["id"], "skipped_full").inc()
                continue
            state = self.http.breaker(el["api_url"]).state
            if state is CircuitState.CLOSED:
                preferred.append(el)
            elif state is CircuitState.HALF_OPEN:
                # полуоткрытый предохранитель пропустит одну пробу — в конец очереди
                probing.append(el)
        preferred.sort(key=lambda e: (e.get("priority", 100), e["id"]))
        probing.sort(key=lambda e: (e.get("priority", 100), e["id"]))
        return preferred + probing

    def record(self, element_id: str, result: str) -> None:
        """result: selected | insufficient_storage | failed | mode_changed."""
        self.metrics.placement.labels(element_id, result).inc()
        if result == "insufficient_storage":
            self._full_until[element_id] = time.monotonic() + FULL_COOLDOWN

    def no_space(self, retention_policy: str, size: int | None) -> ProblemError:
        mode = MODE_FOR_POLICY[retention_policy]
        self.metrics.placement.labels("none", "no_candidate").inc()
        need = f" для файла {size} байт" if size is not None else ""
        return ProblemError(
            507, "insufficient_storage",
            f"Нет доступного элемента хранения в режиме {mode} со свободным местом{need}: все заполнены, "
            "недоступны или выведены из работы. Повторите позже или обратитесь к администратору.",
            headers={"Retry-After": "60"},
        )

    def element(self, element_id: str) -> dict[str, Any] | None:
        return self.discovery.element(element_id)
