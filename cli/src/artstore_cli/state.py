"""Файлы клиента в каталоге настроек пользователя: учётные данные с токеном и незавершённые загрузки.

Оба файла — 0600 (в первом лежит секрет), пишутся атомарно (временный файл, fsync, rename, fsync
каталога) под flock: два запущенных клиента не теряют записи друг друга.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir

CREDENTIALS = "credentials.json"
UPLOADS = "uploads.json"
# Сервер держит незавершённую tus-загрузку сутки (INGESTER_TUS_EXPIRY_HOURS); старше — не продолжить.
UPLOAD_KEEP_SECONDS = 2 * 86400


def fsync_dir(path: Path) -> None:
    """Переименование в каталоге переживает сбой питания только после fsync самого каталога."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def config_dir() -> Path:
    explicit = os.environ.get("ARTSTORE_CLI_CONFIG_DIR")
    return Path(explicit) if explicit else Path(user_config_dir("artstore-cli"))


class Store:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or config_dir()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.root / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads((self.root / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError:
            return {}  # испорченный файл — как пустой: вход и загрузка начнутся заново
        return data if isinstance(data, dict) else {}

    def _write(self, name: str, data: dict[str, Any]) -> None:
        path = self.root / name
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(data, ensure_ascii=False, indent=2).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(self.root)

    # --- учётные данные и токен ----------------------------------------------------------------------
    def credentials(self) -> dict[str, Any]:
        with self._locked():
            return self._read(CREDENTIALS)

    def save_credentials(self, data: dict[str, Any]) -> None:
        with self._locked():
            self._write(CREDENTIALS, data)

    def forget_credentials(self) -> bool:
        with self._locked():
            try:
                (self.root / CREDENTIALS).unlink()
            except FileNotFoundError:
                return False
            return True

    # --- незавершённые загрузки ----------------------------------------------------------------------
    @staticmethod
    def upload_key(path: Path, ingester_url: str) -> str:
        """Тот же файл (путь, размер, mtime) в тот же ingester — та же загрузка; изменённый файл — новая."""
        st = path.stat()
        raw = f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0{ingester_url.rstrip('/')}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def upload(self, key: str) -> dict[str, Any] | None:
        with self._locked():
            entry = self._read(UPLOADS).get(key)
        return entry if isinstance(entry, dict) else None

    def save_upload(self, key: str, entry: dict[str, Any]) -> None:
        with self._locked():
            data = self._read(UPLOADS)
            now = time.time()
            data = {k: v for k, v in data.items()
                    if isinstance(v, dict) and now - float(v.get("saved_at", 0)) < UPLOAD_KEEP_SECONDS}
            data[key] = {**entry, "saved_at": now}
            self._write(UPLOADS, data)

    def drop_upload(self, key: str) -> None:
        with self._locked():
            data = self._read(UPLOADS)
            if data.pop(key, None) is not None:
                self._write(UPLOADS, data)
