"""Состояние элемента в процессе: хранилище, WAL, кэш, режим, учёт ёмкости, метрики, события."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from artstore_common import EventActor, EventPublisher, WalRecoveryAction, init_series

from .backends import Backend
from .cache import Cache
from .fixity import Fixity
from .modes import JsonSet, ModeState
from .settings import Settings
from .tombstones import Tombstones
from .wal import Wal

if TYPE_CHECKING:
    from .replication import Replication

_log = logging.getLogger("storage_element")


class Metrics:
    def __init__(self, registry: CollectorRegistry, element: Element) -> None:
        label = ["storage_element"]
        eid = element.settings.element_id
        self.capacity = Gauge("artstore_storage_capacity_bytes", "Ёмкость элемента", label, registry=registry)
        self.used = Gauge("artstore_storage_used_bytes", "Занято на элементе", label, registry=registry)
        self.files = Gauge("artstore_storage_files", "Файлов на элементе", label, registry=registry)
        self.disk_free = Gauge("artstore_storage_disk_free_bytes", "Свободно на диске элемента", label,
                               registry=registry)
        self.capacity.labels(eid).set(element.settings.max_size)
        # значения читаются в момент сбора — без фоновых обновлений
        self.used.labels(eid).set_function(lambda: element.used_bytes)
        self.files.labels(eid).set_function(lambda: element.file_count)
        self.disk_free.labels(eid).set_function(lambda: float(element.disk_free()))
        self.wal_recoveries = Counter("artstore_wal_recoveries_total", "Операции WAL, разобранные при старте",
                                      ["action"], registry=registry)
        init_series(self.wal_recoveries, WalRecoveryAction)
        self.scrub_corruptions = Counter("artstore_scrub_corruptions_total", "Найдено повреждённых файлов",
                                         registry=registry)
        self.scrub_runs = Counter("artstore_scrub_runs_total", "Проходы проверки целостности", registry=registry)
        self.retention_expired = Counter("artstore_retention_expired_total", "Удалено истёкших временных файлов",
                                         registry=registry)


class Element:
    def __init__(self, settings: Settings, backend: Backend, engine: AsyncEngine, publisher: EventPublisher,
                 registry: CollectorRegistry) -> None:
        self.settings = settings
        self.backend = backend
        self.engine = engine
        self.publisher = publisher
        self.actor = EventActor.system(f"storage-element {settings.element_id}")  # actor событий своих задач
        self.data_dir = Path(settings.data_dir).resolve()
        self.state_dir = self.data_dir / ".state"
        # Каталога состояния нет — диск новый (или заменён пустым), даже если кэш-таблица помнит файлы
        self.fresh_disk = not self.state_dir.exists()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.wal = Wal(self.data_dir / ".wal")
        self.cache = Cache(engine, settings.files_table, settings.table_prefix)
        self.modes = ModeState(self.state_dir, settings.mode)
        self.corrupt = JsonSet(self.state_dir / "corrupt.json")
        self.restored = JsonSet(self.state_dir / "restored.json")
        self.fixity = Fixity()
        # член реплицированного элемента: надгробия и связь с соседями (docs/replication.md); автономный — None
        self.tombstones = Tombstones(self.data_dir / ".tombstones") if settings.replicated else None
        self.replication: Replication | None = None
        # id → когда записан этим процессом: откат (retract) разрешён только для свежей записи
        self._recent: dict[str, float] = {}
        self.used_bytes = 0
        self.file_count = 0
        self.reserved = 0
        self._locks: dict[str, asyncio.Lock] = {}
        self.background: set[asyncio.Task[Any]] = set()
        # пересборка кэша и скраб не идут одновременно: оба обходят всё дерево и пишут в одни строки
        self.maintenance = asyncio.Lock()
        self._expiring: tuple[float, int | None] = (-1e9, None)
        self.metrics = Metrics(registry, self)

    @property
    def mode(self) -> str:
        return self.modes.mode

    def disk_free(self) -> int:
        free = self.backend.disk_free()
        if free is None:
            free = shutil.disk_usage(self.data_dir).free
        return int(free)

    def free_for_write(self) -> int:
        """Сколько ещё можно принять: предел элемента и реальное место на диске, за вычетом уже обещанного."""
        by_quota = self.settings.max_size - self.used_bytes - self.reserved
        disk = self.backend.disk_free()
        if disk is None:
            return max(0, by_quota)
        return max(0, min(by_quota, disk - self.settings.disk_reserve_bytes - self.reserved))

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        self.reserved += nbytes
        try:
            yield
        finally:
            self.reserved -= nbytes

    def lock(self, file_id: str) -> asyncio.Lock:
        lock = self._locks.get(file_id)
        if lock is None:
            lock = self._locks[file_id] = asyncio.Lock()
        return lock

    def release_lock(self, file_id: str) -> None:
        lock = self._locks.get(file_id)
        if lock is not None and not lock.locked():
            self._locks.pop(file_id, None)

    def written(self, file_id: str) -> None:
        now = time.monotonic()
        self._recent[file_id] = now
        if len(self._recent) > 100_000:
            horizon = now - self.settings.retract_window
            self._recent = {f: t for f, t in self._recent.items() if t > horizon}

    def retractable(self, file_id: str) -> bool:
        """Запись моложе SE_RETRACT_WINDOW, сделанная этим процессом: откат неподтверждённой записи, а не
        способ удалить архив (docs/replication.md §6)."""
        at = self._recent.get(file_id)
        return at is not None and time.monotonic() - at <= self.settings.retract_window

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    async def refresh_totals(self) -> None:
        self.file_count, self.used_bytes = await self.cache.totals()

    def event_data(self, attr: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"file_id": attr["file_id"], "storage_element_id": self.settings.element_id,
                "owner_id": attr.get("created_by_id"), "original_filename": attr.get("original_filename"),
                **extra}

    async def mark_corrupt(self, attr: dict[str, Any], actual: str) -> None:
        """Файл не сходится с attr.json: больше не отдаётся. Одна точка и для чтения, и для скраба.

        Событие ``file_corrupted`` — только при первой пометке: query держит метаданные файла
        (``corrupted: false``) в своём кэше и без события отвечал бы так минутами; повторный скраб того же
        файла не должен слать вебхуки заново.
        """
        file_id = attr["file_id"]
        self.fixity.forget(file_id)  # вердикт «цел» больше не действует: Range снова сверяет файл
        first = file_id not in self.corrupt
        if first:
            self.metrics.scrub_corruptions.inc()
            _log.error("файл %s повреждён: sha256 %s вместо %s", file_id, actual, attr.get("checksum"))
        self.corrupt.add(file_id, actual)
        await self.cache.set_corrupted(file_id, True)
        if first:
            await self.publisher.emit("file_corrupted", self.event_data(
                attr, expected_checksum=attr.get("checksum"), actual_checksum=actual), actor=self.actor)
        if self.replication is not None:
            # у члена плохая копия не только помечается, но и чинится с соседа (docs/replication.md §5)
            self.replication.schedule_repair(file_id)

    async def expiring_soon(self) -> int | None:
        """Для /info и панели оператора; считается не чаще раза в минуту — /info опрашивают часто."""
        now = time.monotonic()
        if now - self._expiring[0] > 60:
            try:
                self._expiring = (now, await self.cache.expiring_count(self.settings.expiring_notice_days))
            except Exception:  # /info не должен падать из-за БД: отдаём прошлое значение
                return self._expiring[1]
        return self._expiring[1]

    def info(self) -> dict[str, Any]:
        s = self.settings
        return {
            "id": s.element_id, "name": s.name, "mode": self.mode, "storage_type": s.storage_type,
            "status": "online", "capacity_bytes": s.max_size, "used_bytes": self.used_bytes,
            "free_bytes": max(0, s.max_size - self.used_bytes), "disk_free_bytes": self.disk_free(),
            "file_count": self.file_count, "retention_days": s.retention_days, "priority": s.priority,
            "api_url": s.api_url,
            **(self.replication.info() if self.replication is not None else {}),
        }
