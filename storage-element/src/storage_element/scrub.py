"""Проверка целостности (fixity): перехэширование данных и сверка с attr.json.

Найденное повреждение записывается в локальный файл состояния (переживает пересборку кэша) и в
строку кэша; такой файл больше не отдаётся. Файл, снова сошедшийся (восстановлен из копии), с пометки
снимается.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .codec import ReadVerifier
from .element import Element
from .reconcile import scan

_log = logging.getLogger("storage_element.scrub")


async def hash_stored(el: Element, attr: dict[str, Any], stored_size: int) -> str:
    comp = attr.get("compression")
    verifier = ReadVerifier(comp["algorithm"] if comp else None, True)
    async for _ in el.backend.iter_range(attr["storage_path"], 0, stored_size, verifier):
        pass
    return verifier.hexdigest()


async def scrub(el: Element) -> dict[str, Any]:
    started = time.monotonic()
    found, _data, _attrs, _errors = await scan(el)
    corrupted: list[dict[str, Any]] = []
    missing: list[str] = []
    checked = 0
    for file_id, attr in found.items():
        key = attr.pop("_key")
        size = await el.backend.data_size(key)
        if size is None:
            if not await el.backend.in_cold(key):
                missing.append(file_id)
            continue
        attr["storage_path"] = key
        try:
            actual = await hash_stored(el, attr, size)
        except Exception as exc:  # повреждённый поток сжатия тоже повреждение
            actual = f"unreadable: {type(exc).__name__}"
        checked += 1
        if actual != attr.get("checksum"):
            corrupted.append({"file_id": file_id, "storage_path": key, "expected": attr.get("checksum"),
                              "actual": actual})
            if file_id not in el.corrupt:
                el.metrics.scrub_corruptions.inc()
                _log.error("скраб: файл %s повреждён (%s)", file_id, key)
            el.corrupt.add(file_id, actual)
            await el.cache.set_corrupted(file_id, True)
        elif file_id in el.corrupt:
            el.corrupt.discard(file_id)
            await el.cache.set_corrupted(file_id, False)
    el.metrics.scrub_runs.inc()
    return {"checked": checked, "corrupted": corrupted, "missing": missing,
            "duration_s": round(time.monotonic() - started, 3)}
