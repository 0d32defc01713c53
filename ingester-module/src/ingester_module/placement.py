"""Выбор элемента хранения для новой загрузки по снимку discovery (docs/architecture.md §5).

Порядок: элементы нужного режима (temporary → edit, permanent → rw), в сети, с замкнутым
предохранителем, со свободным местом под файл (когда размер известен), по возрастанию priority.
Элемент, только что ответивший 507, на короткое время считается полным — снимок discovery
обновляется не мгновенно, а повторять заведомо неудачную попытку на каждой загрузке дорого.

Когда размещать некуда, ответ называет настоящую причину по каждому элементу: «нет места» (507) и
«элемент недоступен» (503 — повторите позже) — разные вещи для того, кто читает ответ.

Реплицированный элемент — один кандидат (docs/replication.md): он принимает запись, пока в сети и с
работающим предохранителем столько членов, сколько нужно для подтверждения (кворум в ``sync``, один в
``async``); в причине отказа названо, что с каждым членом.
"""

from __future__ import annotations

import time

from artstore_common import (
    NO_STORAGE_ELEMENT,
    CircuitState,
    DiscoveryClient,
    ElementClient,
    PlacementResult,
    ProblemError,
    StorageElement,
)

from .metrics import IngesterMetrics

MODE_FOR_POLICY = {"temporary": "edit", "permanent": "rw"}
FULL_COOLDOWN = 15.0


class Placement:
    def __init__(self, discovery: DiscoveryClient, elements: ElementClient, metrics: IngesterMetrics) -> None:
        self.discovery = discovery
        self.elements = elements
        self.metrics = metrics
        self._full_until: dict[str, float] = {}

    def candidates(self, retention_policy: str, size: int | None = None) -> list[StorageElement]:
        """Подходящие элементы в порядке предпочтения; пустой список — размещать некуда."""
        mode = MODE_FOR_POLICY[retention_policy]
        now = time.monotonic()
        preferred: list[StorageElement] = []
        probing: list[StorageElement] = []
        for el in self.discovery.storage_elements:
            # у реплицированного элемента «degraded» — обычное дело: решает число готовых членов
            if el.mode != mode or (el.status != "online" and not el.replicated):
                continue
            if self._full_until.get(el.id, 0.0) > now:
                continue
            if size is not None and el.free_bytes is not None and el.free_bytes < size:
                self.metrics.placement.labels(el.id, PlacementResult.SKIPPED_FULL).inc()
                continue
            if el.replicated:
                ready = self.elements.write_readiness(el)
                if len(ready.ready) >= ready.need:
                    preferred.append(el)
                elif ready.writable:
                    probing.append(el)
                continue
            state = self.elements.breaker(el.id).state
            if state is CircuitState.CLOSED:
                preferred.append(el)
            elif state is CircuitState.HALF_OPEN:
                # полуоткрытый предохранитель пропустит одну пробу — в конец очереди
                probing.append(el)
        preferred.sort(key=lambda e: (e.priority, e.id))
        probing.sort(key=lambda e: (e.priority, e.id))
        return preferred + probing

    def record(self, element_id: str, result: PlacementResult) -> None:
        self.metrics.placement.labels(element_id, result).inc()
        if result is PlacementResult.INSUFFICIENT_STORAGE:
            self._full_until[element_id] = time.monotonic() + FULL_COOLDOWN

    def _reasons(self, mode: str, size: int | None) -> tuple[list[str], bool]:
        """(причина по каждому элементу режима, есть ли среди них «недоступен» — не «полон»)."""
        now = time.monotonic()
        reasons: list[str] = []
        unavailable = False
        for el in sorted(self.discovery.storage_elements, key=lambda e: e.id):
            if el.mode != mode:
                continue
            ready = self.elements.write_readiness(el) if el.replicated else None
            if ready is not None and not ready.writable:
                reasons.append(f"{el.id}: для записи нужно членов в сети — {ready.need} из {len(el.members)}, "
                               f"готовы {len(ready.ready) + len(ready.probing)} ({ready.describe()})")
                unavailable = True
            elif ready is None and el.status != "online":
                reasons.append(f"{el.id}: {el.status} по данным admin-module")
                unavailable = True
            elif self._full_until.get(el.id, 0.0) > now:
                reasons.append(f"{el.id}: только что ответил «нет места» (507)")
            elif size is not None and el.free_bytes is not None and el.free_bytes < size:
                reasons.append(f"{el.id}: свободно {el.free_bytes} байт")
            elif ready is None and self.elements.breaker(el.id).state is CircuitState.OPEN:
                reasons.append(f"{el.id}: недоступен — после сбоев исключён на время (предохранитель разомкнут)")
                unavailable = True
            else:
                reasons.append(f"{el.id}: не принял запись")
                unavailable = True
        return reasons, unavailable

    def no_space(self, retention_policy: str, size: int | None) -> ProblemError:
        """Ответ «разместить некуда» с настоящей причиной: 507 — нет места, 503 — элементы недоступны."""
        mode = MODE_FOR_POLICY[retention_policy]
        self.metrics.placement.labels(NO_STORAGE_ELEMENT, PlacementResult.NO_CANDIDATE).inc()
        reasons, unavailable = self._reasons(mode, size)
        need = f" для файла {size} байт" if size is not None else ""
        if not reasons:
            return ProblemError(
                507, "insufficient_storage",
                f"Нет ни одного элемента хранения в режиме {mode}: файлы {retention_policy} размещать некуда. "
                "Обратитесь к администратору (нужен зарегистрированный элемент в этом режиме).",
                headers={"Retry-After": "60"}, extra={"reasons": []})
        listed = "; ".join(reasons)
        if unavailable:
            return ProblemError(
                503, "storage_unavailable",
                f"Сейчас некуда записать файл{need}: подходящие элементы в режиме {mode} недоступны ({listed}). "
                "Повторите позже.", headers={"Retry-After": "5"}, extra={"reasons": reasons})
        return ProblemError(
            507, "insufficient_storage",
            f"Нет места{need} ни на одном элементе хранения в режиме {mode} ({listed}). "
            "Повторите позже или обратитесь к администратору.",
            headers={"Retry-After": "60"}, extra={"reasons": reasons})

    def element(self, element_id: str) -> StorageElement | None:
        return self.discovery.storage_element(element_id)
