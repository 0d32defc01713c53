"""Проверка целостности (fixity): перехэширование данных и сверка с attr.json.

Найденное повреждение записывается в локальный файл состояния (переживает пересборку кэша) и в
строку кэша; такой файл больше не отдаётся. Файл, снова сошедшийся (восстановлен из копии), с пометки
снимается; сошедшийся файл получает вердикт «цел» (fixity.py), и Range по нему не хэширует файл заново.
"""

from __future__ import annotations

import time
from typing import Any

from .element import Element
from .fixity import hash_stored
from .reconcile import scan


async def scrub(el: Element) -> dict[str, Any]:
    started = time.monotonic()
    found, _data, _attrs, _errors = await scan(el)
    corrupted: list[dict[str, Any]] = []
    missing: list[str] = []
    checked = 0
    for file_id, attr in found.items():
        key = attr.pop("_key")
        stamp = await el.backend.stamp(key)
        if stamp is None:
            if not await el.backend.in_cold(key):
                missing.append(file_id)
            continue
        attr["storage_path"] = key
        try:
            actual = await hash_stored(el.backend, attr, stamp.size)
        except Exception as exc:  # повреждённый поток сжатия тоже повреждение
            actual = f"unreadable: {type(exc).__name__}"
        checked += 1
        if actual != attr.get("checksum"):
            corrupted.append({"file_id": file_id, "storage_path": key, "expected": attr.get("checksum"),
                              "actual": actual})
            await el.mark_corrupt(attr, actual)
        else:
            el.fixity.mark_good(file_id, stamp, str(attr["checksum"]))
            if file_id in el.corrupt:
                el.corrupt.discard(file_id)
                await el.cache.set_corrupted(file_id, False)
    el.metrics.scrub_runs.inc()
    return {"checked": checked, "corrupted": corrupted, "missing": missing,
            "duration_s": round(time.monotonic() - started, 3)}
