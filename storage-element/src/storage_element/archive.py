"""Режим `ar`: данные уходят в холодное хранение, attr.json и строки кэша остаются (поиск работает);
отдельный файл можно вернуть для чтения (`restore`), о чём сообщают события."""

from __future__ import annotations

import logging
from typing import Any

from artstore_common import EventActor

from .element import Element
from .layout import ATTR_SUFFIX, valid_key

_log = logging.getLogger("storage_element.archive")


async def archive_all(el: Element) -> int:
    """Перенос горячих данных в холодное хранение; идемпотентен, дозапускается при старте в `ar`."""
    moved = 0
    restored_keys = set(el.restored.items.values())
    async for batch in el.backend.list_keys():
        for key in batch:
            if key.endswith(ATTR_SUFFIX) or not valid_key(key) or key in restored_keys:
                continue
            try:
                await el.backend.archive(key)
                moved += 1
            except Exception:
                _log.exception("не удалось перенести %s в холодное хранение", key)
    if moved:
        _log.warning("в холодное хранение перенесено файлов: %d", moved)
    return moved


async def restore_file(el: Element, attr: dict[str, Any], actor: EventActor) -> None:
    try:
        await el.backend.restore(attr["storage_path"])
        if await el.backend.data_size(attr["storage_path"]) is None:
            raise FileNotFoundError("данных нет ни в горячем, ни в холодном хранении")
    except Exception as exc:
        _log.exception("восстановление %s не удалось", attr["file_id"])
        await el.publisher.emit("restore_failed", el.event_data(attr, reason=f"{type(exc).__name__}: {exc}"),
                                actor=actor)
        return
    el.restored.add(attr["file_id"], attr["storage_path"])
    await el.publisher.emit("file_restored", el.event_data(attr), actor=actor)
