"""Клиент service discovery: снимок реестра элементов хранения из Redis, подписка на изменения и
локальный файл-снимок, из которого сервис продолжает работать, пока Redis недоступен."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Gauge
from redis.exceptions import RedisError

from ._element_client import StorageElement
from ._redis import make_redis
from ._tasks import stop_task

_log = logging.getLogger("artstore.discovery")

SNAPSHOT_KEY = "storage_elements"
CHANNEL = "service_discovery"


def discovery_key(namespace: str) -> str:
    return f"{namespace}:{SNAPSHOT_KEY}"


def discovery_channel(namespace: str) -> str:
    return f"{namespace}:{CHANNEL}"


def fsync_dir(path: Path) -> None:
    """fsync каталога: после него создание, переименование и удаление в нём переживают сбой питания."""
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _make_dirs(path: Path) -> None:
    """Недостающие каталоги, каждый зафиксирован fsync родителя: иначе после сбоя питания может пропасть
    сам каталог вместе с файлом, который в нём «надёжно» записан."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue
        fsync_dir(directory.parent)


def atomic_write(path: Path, data: bytes) -> None:
    """temp → fsync → rename → fsync(dir): файл либо старый, либо новый целиком (права 0600)."""
    _make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


class DiscoveryClient:
    """Держит последний снимок; ``elements`` всегда отвечает, даже без Redis (из файла)."""

    def __init__(
        self,
        redis_url: str,
        namespace: str,
        fallback_path: Path,
        *,
        registry: CollectorRegistry | None = None,
        reconnect_interval: float = 2.0,
        poll_interval: float = 30.0,
    ) -> None:
        self.redis_url = redis_url
        self.namespace = namespace
        self.fallback_path = Path(fallback_path)
        self.reconnect_interval = reconnect_interval
        self.poll_interval = poll_interval
        self.snapshot: dict[str, Any] = {"version": 0, "storage_elements": []}
        self.fallback_active = False
        self.last_error: str | None = None
        self.updated_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._redis: aioredis.Redis | None = None
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._typed: list[StorageElement] = []
        self._by_id: dict[str, StorageElement] = {}
        self._gauge = (
            Gauge("artstore_discovery_fallback_active", "1 — сервис работает из локального снимка discovery",
                  registry=registry)
            if registry is not None else None
        )

    # --- данные ---------------------------------------------------------------------------------
    @property
    def elements(self) -> list[dict[str, Any]]:
        return list(self.snapshot.get("storage_elements", []))

    def element(self, element_id: str) -> dict[str, Any] | None:
        return next((e for e in self.elements if e.get("id") == element_id), None)

    @property
    def storage_elements(self) -> list[StorageElement]:
        """Элементы снимка, разобранные один раз на снимок (горячий путь размещения и чтения)."""
        return self._typed

    def storage_element(self, element_id: str) -> StorageElement | None:
        return self._by_id.get(element_id)

    def on_change(self, callback: Callable[[dict[str, Any]], None]) -> None:
        self._listeners.append(callback)

    def _apply(self, snapshot: dict[str, Any], *, persist: bool) -> None:
        self.snapshot = snapshot
        raw = snapshot.get("storage_elements")
        parsed = [StorageElement.from_snapshot(e) for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []
        self._typed = [e for e in parsed if e is not None]
        self._by_id = {e.id: e for e in self._typed}
        self.updated_at = time.time()
        if persist:
            try:
                atomic_write(self.fallback_path, json.dumps(snapshot, ensure_ascii=False).encode())
            except OSError as exc:
                _log.warning("не удалось сохранить снимок discovery в %s: %s", self.fallback_path, exc)
        for cb in self._listeners:
            try:
                cb(snapshot)
            except Exception:
                _log.exception("обработчик изменения discovery упал")

    def _set_fallback(self, active: bool, reason: str | None = None) -> None:
        if active and not self.fallback_active:
            _log.warning("Redis недоступен (%s): работаю из локального снимка %s", reason, self.fallback_path)
        if not active and self.fallback_active:
            _log.info("Redis снова доступен: discovery из Redis")
        self.fallback_active = active
        self.last_error = reason
        if self._gauge is not None:
            self._gauge.set(1 if active else 0)

    def load_fallback(self) -> bool:
        try:
            data = json.loads(self.fallback_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        self._apply(data, persist=False)
        return True

    # --- Redis ------------------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Читает ключ снимка из Redis; при ошибке переходит на файл."""
        try:
            if self._redis is None:
                self._redis = make_redis(self.redis_url, socket_timeout=3, socket_connect_timeout=3)
            raw = await self._redis.get(discovery_key(self.namespace))
        except (RedisError, OSError) as exc:
            self._enter_fallback(str(exc))
            return
        self._set_fallback(False)
        if raw:
            try:
                self._apply(json.loads(raw), persist=True)
            except ValueError as exc:
                _log.error("снимок discovery в Redis повреждён: %s", exc)

    def _enter_fallback(self, reason: str) -> None:
        if not self.fallback_active and not self.snapshot.get("storage_elements"):
            self.load_fallback()
        self._set_fallback(True, reason)

    async def start(self) -> None:
        await self.refresh()
        if not self.snapshot.get("storage_elements"):
            self.load_fallback()
        self._task = asyncio.create_task(self._run(), name="discovery-subscriber")

    async def _run(self) -> None:
        while True:
            pubsub = None
            try:
                if self._redis is None:
                    self._redis = make_redis(self.redis_url, socket_timeout=None, socket_connect_timeout=3)
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(discovery_channel(self.namespace))
                # после (пере)подключения — свежий снимок, события могли пропасть
                await self.refresh()
                last_poll = time.monotonic()
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None or time.monotonic() - last_poll > self.poll_interval:
                        await self.refresh()
                        last_poll = time.monotonic()
                        if self.fallback_active:
                            break
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._enter_fallback(str(exc))
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(self.reconnect_interval)

    async def stop(self) -> None:
        await stop_task(self._task)
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    async def health(self) -> str | None:
        """Для /health/ready: деградация (не отказ) при работе из файла."""
        if self.fallback_active:
            return f"Redis недоступен, discovery из локального снимка ({self.last_error})"
        return None


async def publish_snapshot(redis: aioredis.Redis, namespace: str, snapshot: dict[str, Any]) -> None:
    """Публикация снимка (admin-module): ключ + событие в канал."""
    payload = json.dumps(snapshot, ensure_ascii=False)
    await redis.set(discovery_key(namespace), payload)
    event = {"event": "updated", "version": snapshot.get("version")}
    await redis.publish(discovery_channel(namespace), json.dumps(event))
