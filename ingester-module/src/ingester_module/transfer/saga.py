"""Сага переноса файла между элементами: copy → verify → switch → delete_source.

Каждый шаг идемпотентен (повтор PUT того же file_id с тем же sha256 элемент принимает как 200), шаг
записывается в журнал до перехода к следующему — после перезапуска сага продолжается с того же места.
До ``switch`` источник не трогаем: файл читается хотя бы с одного элемента в любой момент. Сбой до
переключения — компенсация (удалить копию на цели, если источник цел); после — только вперёд.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from artstore_common import (
    SAGA_ACTIVE_STATES,
    SAGA_STEPS,
    DiscoveryClient,
    ElementClient,
    ElementError,
    EventPublisher,
    SagaState,
    SagaStep,
    StorageElement,
)

from ..locator import Locator
from .models import TransactionRepo, requester

_log = logging.getLogger("ingester.saga")
STEPS = SAGA_STEPS


class SagaAbort(Exception):
    """Шаг не может завершиться (не временный сбой): пора компенсировать."""


class SagaRunner:
    def __init__(self, repo: TransactionRepo, discovery: DiscoveryClient, elements: ElementClient,
                 locator: Locator, publisher: EventPublisher, *, max_attempts: int, retry_delay: float,
                 on_change: Any = None) -> None:
        self.repo = repo
        self.discovery = discovery
        self.elements = elements
        self.locator = locator
        self.publisher = publisher
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.on_change = on_change
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, tx_id: str) -> None:
        task = asyncio.create_task(self.run(tx_id), name=f"saga-{tx_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def resume_all(self) -> None:
        for tx_id in await self.repo.unfinished():
            self.spawn(tx_id)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def _el(self, element_id: str) -> StorageElement:
        el = self.discovery.storage_element(element_id)
        if el is None:
            raise ElementError(0, "element_unknown", f"элемента {element_id} нет в снимке discovery")
        return el

    async def run(self, tx_id: str) -> None:
        async with self.repo.lock(tx_id) as leader:
            if not leader:  # сагу уже ведёт другая реплика
                return
            try:
                await self._drive(tx_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.exception("сага %s упала", tx_id)
                await self.repo.update(tx_id, state=SagaState.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
            if self.on_change is not None:
                await self.on_change()

    async def _drive(self, tx_id: str) -> None:
        tx = await self.repo.get(tx_id)
        if tx is None or tx["state"] not in SAGA_ACTIVE_STATES:
            return
        await self.repo.update(tx_id, state=SagaState.RUNNING)
        step = tx["step"]
        attempts = 0
        while step != SagaStep.DONE:
            try:
                if step == SagaStep.COMPENSATE:
                    await self._compensate(tx)
                    return
                await getattr(self, f"_{step}")(tx)
            except (ElementError, SagaAbort) as exc:
                attempts += 1
                transient = isinstance(exc, ElementError) and exc.unavailable
                await self.repo.update(tx_id, attempts=tx["attempts"] + attempts, error=str(exc)[:2000])
                if transient and attempts < self.max_attempts:
                    await asyncio.sleep(min(self.retry_delay * attempts, 10.0))
                    continue
                if step in (SagaStep.COPY, SagaStep.VERIFY):
                    step = SagaStep.COMPENSATE
                    await self.repo.update(tx_id, step=step)
                    continue
                if step == SagaStep.DELETE_SOURCE:  # копия уже на цели и переключена: оставляем обе
                    await self.repo.update(tx_id, state=SagaState.DONE, step=SagaStep.DONE,
                                           error=f"копия на источнике осталась: {exc}"[:2000])
                    return
                raise
            step = STEPS[STEPS.index(step) + 1]
            attempts = 0
            done = {"state": SagaState.DONE, "error": None} if step == SagaStep.DONE else {}
            await self.repo.update(tx_id, step=step, **done)

    async def _copy(self, tx: dict[str, Any]) -> None:
        src, dst = self._el(tx["source"]), self._el(tx["target"])
        attr = await self.elements.get_attr(src, tx["file_id"])
        if attr is None:
            existing = await self.elements.get_attr(dst, tx["file_id"])
            if existing is not None and existing.get("checksum") == tx["checksum"]:
                return  # источник уже удалён после успешной копии (повтор после сбоя)
            raise SagaAbort(f"файла {tx['file_id']} нет на источнике {tx['source']}")
        existing = await self.elements.get_attr(dst, tx["file_id"])
        if existing is not None and existing.get("checksum") == attr.get("checksum"):
            return
        meta = transfer_meta(attr, tx["kind"], dst.mode or "rw")
        source = await self.elements.read_content(src, tx["file_id"])
        try:
            # обрыв чтения у источника выходит из потока как ElementError источника — временный сбой шага
            await self.elements.put_file(dst, tx["file_id"], meta, source.chunks,
                                         expected_sha256=attr.get("checksum"))
        finally:
            await source.aclose()

    async def _verify(self, tx: dict[str, Any]) -> None:
        attr = await self.elements.get_attr(self._el(tx["target"]), tx["file_id"])
        if attr is None or attr.get("checksum") != tx["checksum"]:
            raise SagaAbort("копия на цели не совпала по sha256")

    async def _switch(self, tx: dict[str, Any]) -> None:
        dst = self._el(tx["target"])
        attr = await self.elements.get_attr(dst, tx["file_id"]) or {}
        await self.locator.remember(tx["file_id"], tx["target"])
        await self.publisher.emit("file_finalized" if tx["kind"] == "finalize" else "file_transferred", {
            "file_id": tx["file_id"], "storage_element_id": tx["target"], "source_storage_element_id": tx["source"],
            "owner_id": attr.get("created_by_id"), "original_filename": attr.get("original_filename"),
            "retention_policy": attr.get("retention_policy"), "transaction_id": tx["id"],
        }, actor=requester(tx), event_id=switch_event_id(tx["id"]))

    async def _delete_source(self, tx: dict[str, Any]) -> None:
        src = self.discovery.storage_element(tx["source"])
        if src is None or src.mode != "edit":
            return  # режим источника не разрешает удаление: копия остаётся (rw/ro — архив)
        await self.elements.delete_file(src, tx["file_id"])

    async def _compensate(self, tx: dict[str, Any]) -> None:
        note = (await self.repo.get(tx["id"]) or {}).get("error")
        src_ok = False
        try:
            src_ok = await self.elements.get_attr(self._el(tx["source"]), tx["file_id"]) is not None
        except ElementError:
            src_ok = False
        if src_ok:
            try:
                await self.elements.delete_file(self._el(tx["target"]), tx["file_id"])
            except ElementError as exc:
                # цель недоступна (копии там нет — элемент не фиксирует оборванную запись) или её режим
                # запрещает удаление (rw) — полной копии без переключения это не вредит
                note = f"{note}; копия на цели не удалена: {exc.detail}"
            await self.repo.update(tx["id"], state=SagaState.COMPENSATED, step=SagaStep.COMPENSATE, error=note)
        else:
            await self.repo.update(tx["id"], state=SagaState.FAILED, step=SagaStep.COMPENSATE,
                                   error=f"{note}; источник недоступен — требуется вмешательство")


def switch_event_id(tx_id: str) -> str:
    """id события переключения — от id саги: шаг switch, повторённый после перезапуска ingester (событие ушло,
    а шаг ещё не записан), даёт то же событие, и потребители отсеивают повтор по id."""
    return hashlib.sha256(f"{tx_id}:switch".encode()).hexdigest()[:32]


def transfer_meta(attr: dict[str, Any], kind: str, target_mode: str) -> dict[str, Any]:
    """Метаданные копии: те же атрибуты; политика — по режиму цели (finalize → permanent)."""
    policy = "permanent" if kind == "finalize" or target_mode != "edit" else "temporary"
    meta: dict[str, Any] = {k: attr.get(k) for k in (
        "original_filename", "content_type", "created_by_id", "created_by_username", "description", "tags",
        "metadata", "created_at") if attr.get(k) is not None}
    meta["retention_policy"] = policy
    if policy == "temporary" and attr.get("expires_at"):
        meta["expires_at"] = attr["expires_at"]
    compression = attr.get("compression")
    if isinstance(compression, dict) and compression.get("algorithm"):
        meta["compression_algorithm"] = compression["algorithm"]
    return meta
