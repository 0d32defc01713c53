"""Останов фоновой задачи, который не виснет.

В Python 3.11 отмена может потеряться: ``asyncio.wait_for`` (и библиотеки поверх него, redis-py в их числе)
проглатывает ``CancelledError``, пришедший в тот момент, когда ожидаемое уже случилось. Цикл фоновой задачи
тогда идёт дальше, а однократный ``cancel()`` + ``await task`` ждёт его вечно — так повисали останов
потребителя событий admin и ретранслятора outbox элемента. Поэтому отмена повторяется, пока задача не
закончится.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def stop_task(task: asyncio.Task[Any] | None, *, retry: float = 1.0) -> None:
    """Отменить ``task`` и дождаться конца (повторяя отмену раз в ``retry`` секунд). Исключение и отмена самой
    задачи здесь не поднимаются; отмена того, кто вызвал ``stop_task``, — поднимается."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=retry)
    if not task.cancelled():
        task.exception()  # прочитано: asyncio не напишет «exception was never retrieved»
