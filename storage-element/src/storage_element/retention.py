"""Сроки хранения: предупреждение `file_expiring` за N дней (один раз на файл) и удаление истёкших
временных файлов на элементах `edit`. Постоянные файлы не удаляются никогда.

Задача берёт advisory-lock на элемент: две копии процесса (перезапуск внахлёст) не шлют событие дважды.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from artstore_common import advisory_lock

from . import attrs
from .element import Element
from .writer import remove

_log = logging.getLogger("storage_element.retention")


async def run_retention(el: Element) -> dict[str, Any]:
    result = {"notified": 0, "expired": 0, "skipped": False}
    if el.replication is not None and not el.replication.leader:
        # у реплицированного элемента сроки ведёт один член — лидер (docs/replication.md §7); остальные
        # получат его надгробия через anti-entropy, а события — одни на элемент
        result["skipped"] = True
        return result
    async with advisory_lock(el.engine, f"se-retention:{el.settings.element_id}") as leader:
        if not leader:
            result["skipped"] = True
            return result
        now = attrs.now_utc()
        until = now + timedelta(days=el.settings.expiring_notice_days)
        while True:
            rows = await el.cache.expiring(until)
            if not rows:
                break
            for attr in rows:
                expires = attrs.parse_dt(attr["expires_at"])
                assert expires is not None
                days_left = max(0, (expires - now).days)
                await el.publisher.emit("file_expiring", el.event_data(
                    attr, expires_at=attr["expires_at"], days_left=days_left,
                    retention_policy=attr.get("retention_policy")), actor=el.actor)
            await el.cache.mark_notified([a["file_id"] for a in rows], now)
            result["notified"] += len(rows)
        if el.mode == "edit":
            while True:
                rows = await el.cache.expired_temporary(now)
                if not rows:
                    break
                for attr in rows:
                    try:
                        await remove(el, attr["file_id"], check_mode=False, tombstone="expired")
                    except Exception:
                        _log.exception("не удалось удалить истёкший файл %s", attr["file_id"])
                        return result
                    el.metrics.retention_expired.inc()
                    await el.publisher.emit("file_expired", el.event_data(attr, expires_at=attr["expires_at"]),
                                           actor=el.actor)
                    result["expired"] += 1
    if result["notified"] or result["expired"]:
        _log.info("сроки хранения: предупреждено %d, удалено %d", result["notified"], result["expired"])
    return result
