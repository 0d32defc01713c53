"""stop_task: фоновая задача, проглотившая отмену (так делает asyncio.wait_for в Python 3.11, когда отмена
приходит вместе с результатом), всё равно останавливается, а отмена вызывающего не теряется."""

from __future__ import annotations

import asyncio

import pytest

from artstore_common import stop_task


async def test_task_that_swallows_a_cancel_is_still_stopped() -> None:
    swallowed = 0

    async def loop() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # первая отмена потерялась: цикл идёт дальше

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await stop_task(task, retry=0.05)
    assert task.cancelled() and swallowed == 1


async def test_failed_task_is_stopped_quietly_and_callers_cancel_propagates() -> None:
    async def boom() -> None:
        raise RuntimeError("упала")

    failed = asyncio.create_task(boom())
    await asyncio.sleep(0)
    await stop_task(failed)  # исключение задачи не поднимается
    await stop_task(None)

    stubborn = asyncio.create_task(asyncio.sleep(10))
    stopper = asyncio.create_task(stop_task(stubborn))
    await asyncio.sleep(0)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
