"""Надгробия члена реплицированного элемента (docs/replication.md §6): ``<data>/.tombstones/<file_id>.json``.

Надгробие — память о том, что файл удалён (удаление, откат неподтверждённой записи, истечение срока). Без
него сосед, у которого файл ещё есть, вернул бы его при anti-entropy. Пишется как любой файл, без которого
элемент не обходится: temp → fsync → rename → fsync(каталога); живёт ``SE_TOMBSTONE_DAYS`` дней.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from artstore_common import atomic_write, valid_file_id

from .attrs import iso, now_utc, parse_dt

_log = logging.getLogger("storage_element.tombstones")


class Tombstones:
    """Все надгробия в памяти (их немного: удаления за срок хранения надгробий), на диске — по файлу на id."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._items: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []
        self._load()

    def _load(self) -> None:
        if not self.dir.is_dir():
            return
        for path in self.dir.glob("*.json"):
            try:
                item = json.loads(path.read_bytes())
                if not isinstance(item, dict) or item.get("file_id") != path.stem:
                    raise ValueError("file_id надгробия не совпадает с именем файла")
                item["version"] = int(item.get("version") or 1)
            except (OSError, ValueError) as exc:
                # одно испорченное надгробие не мешает старту; без него файл может вернуться от соседа —
                # это лучше, чем элемент, который не поднимается
                _log.error("надгробие %s не читается (%s) — пропущено", path, exc)
                continue
            self._items[path.stem] = item
        self._order = sorted(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def get(self, file_id: str) -> dict[str, Any] | None:
        return self._items.get(file_id)

    async def put(self, file_id: str, checksum: str, version: int, reason: str,
                  deleted_at: str | None = None) -> dict[str, Any]:
        if not valid_file_id(file_id):
            raise ValueError(f"недопустимый file_id надгробия {file_id!r}")
        item = {"file_id": file_id, "checksum": checksum, "version": int(version),
                "deleted_at": deleted_at or iso(now_utc()), "reason": reason}
        data = json.dumps(item, ensure_ascii=False).encode()
        await asyncio.to_thread(atomic_write, self.dir / f"{file_id}.json", data)
        if file_id not in self._items:
            bisect.insort(self._order, file_id)
        self._items[file_id] = item
        return item

    async def discard(self, file_id: str) -> None:
        """Файл записан заново (версия новее надгробия): надгробие больше не действует."""
        if self._items.pop(file_id, None) is None:
            return
        index = bisect.bisect_left(self._order, file_id)
        if index < len(self._order) and self._order[index] == file_id:
            del self._order[index]
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread((self.dir / f"{file_id}.json").unlink)

    def after(self, after: str, limit: int) -> list[dict[str, Any]]:
        """Надгробия с ``file_id`` больше ``after`` по возрастанию (страница описи)."""
        start = bisect.bisect_right(self._order, after)
        return [self._items[f] for f in self._order[start:start + limit]]

    async def expire(self, days: int) -> int:
        """Убрать надгробия старше ``days`` дней: за это время их получили все члены, что были в сети."""
        limit = now_utc() - timedelta(days=days)
        old = [f for f, item in self._items.items() if (parse_dt(item.get("deleted_at")) or limit) < limit]
        for file_id in old:
            await self.discard(file_id)
        return len(old)
