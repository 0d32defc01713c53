"""attr.json — единственный источник истины о файле: схема, ограничение 4 КБ, чтение старых версий.

Версия 1 (ранний формат из документа пользователя) хранила `filename`, `size`, `sha256` и теги
строкой через запятую; её файлы лежат в старых резервных копиях, поэтому читаются всегда и
приводятся к текущей схеме функцией `migrate` без перезаписи на диске.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from artstore_common import ProblemError

SCHEMA_VERSION = 2
MAX_ATTR_BYTES = 4096

FIELDS = (
    "schema_version", "file_id", "original_filename", "storage_filename", "storage_path", "file_size",
    "content_type", "checksum", "created_at", "updated_at", "created_by_id", "created_by_username",
    "description", "tags", "metadata", "retention_policy", "expires_at", "compression", "storage_element_id",
    "version",
)


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z") if dt else None


def parse_dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def encode(attr: dict[str, Any]) -> bytes:
    """Сериализация с проверкой предела; кириллица без \\u-экранирования — так она и считается в 4 КБ."""
    data = json.dumps(attr, ensure_ascii=False, separators=(",", ":"), sort_keys=False, allow_nan=False).encode()
    if len(data) > MAX_ATTR_BYTES:
        raise ProblemError(
            413, "attributes_too_large",
            f"атрибуты файла занимают {len(data)} байт в attr.json, предел — {MAX_ATTR_BYTES}; "
            "сократите metadata, description или tags",
            extra={"attr_bytes": len(data), "limit_bytes": MAX_ATTR_BYTES},
        )
    return data


def migrate_v1(old: dict[str, Any]) -> dict[str, Any]:
    """v1 → текущая схема; недостающие поля получают нейтральные значения."""
    tags = old.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    created = old.get("created_at") or old.get("uploaded_at")
    return {
        "schema_version": SCHEMA_VERSION,
        "file_id": old["file_id"],
        "original_filename": old.get("filename") or old.get("original_filename") or old["storage_filename"],
        "storage_filename": old["storage_filename"],
        "storage_path": old.get("storage_path") or old.get("path"),
        "file_size": int(old.get("size", old.get("file_size", 0))),
        "content_type": old.get("content_type") or "application/octet-stream",
        "checksum": old.get("sha256") or old.get("checksum"),
        "created_at": created,
        "updated_at": old.get("updated_at") or created,
        "created_by_id": old.get("created_by_id") or old.get("user_id"),
        "created_by_username": old.get("created_by_username") or old.get("username") or "unknown",
        "description": old.get("description"),
        "tags": list(tags),
        "metadata": old.get("metadata") or {},
        "retention_policy": old.get("retention_policy") or "permanent",
        "expires_at": old.get("expires_at"),
        "compression": None,
        "storage_element_id": old.get("storage_element_id"),
    }


MIGRATIONS = {1: migrate_v1}


def migrate(attr: dict[str, Any]) -> dict[str, Any]:
    version = int(attr.get("schema_version", 1))
    if version != SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise ValueError(f"неизвестная версия схемы attr.json: {version}")
        attr = MIGRATIONS[version](attr)
    # version — счётчик правок метаданных (docs/replication.md §6): файлы, записанные до него, — первая правка
    if not isinstance(attr.get("version"), int) or attr["version"] < 1:
        attr["version"] = 1
    return attr


def decode(data: bytes) -> dict[str, Any]:
    """Разбор attr.json любой известной версии; ValueError — файл не attr.json или битый."""
    raw = json.loads(data)
    if not isinstance(raw, dict) or "file_id" not in raw:
        raise ValueError("attr.json без file_id")
    return migrate(raw)


def build(
    *, file_id: str, meta: dict[str, Any], key: str, file_size: int, checksum: str, element_id: str,
    created_at: datetime, expires_at: datetime | None, compression: dict[str, Any] | None,
    updated_at: datetime | None = None, version: int = 1,
) -> dict[str, Any]:
    storage_filename = key.rsplit("/", 1)[-1]
    return {
        "schema_version": SCHEMA_VERSION,
        "file_id": file_id,
        "original_filename": meta["original_filename"],
        "storage_filename": storage_filename,
        "storage_path": key,
        "file_size": file_size,
        "content_type": meta.get("content_type") or "application/octet-stream",
        "checksum": checksum,
        "created_at": iso(created_at),
        "updated_at": iso(updated_at or now_utc()),
        "created_by_id": meta.get("created_by_id"),
        "created_by_username": meta.get("created_by_username") or "unknown",
        "description": meta.get("description"),
        "tags": list(meta.get("tags") or []),
        "metadata": meta.get("metadata") or {},
        "retention_policy": meta.get("retention_policy") or "temporary",
        "expires_at": iso(expires_at),
        "compression": compression,
        "storage_element_id": element_id,
        "version": version,
    }
