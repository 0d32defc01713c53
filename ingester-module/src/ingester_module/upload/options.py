"""Поля загрузки (общие для multipart, tus и пакетной загрузки): проверка и метаданные для элемента."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from artstore_common import Principal, ProblemError

_TRUE = frozenset({"1", "true", "yes", "on"})
_POLICIES = ("temporary", "permanent")
_ALGORITHMS = ("gzip", "brotli")
MAX_TAGS = 50


@dataclass(slots=True)
class UploadOptions:
    retention_policy: str = "temporary"
    ttl_days: int | None = None
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    compression_algorithm: str | None = None


def _bad(field_name: str, detail: str, code: str = "validation_error") -> ProblemError:
    return ProblemError(422, code, f"{field_name}: {detail}", extra={"errors": [{"field": field_name,
                                                                                  "message": detail}]})


def parse_tags(raw: str) -> list[str]:
    raw = raw.strip()
    if not raw:
        return []
    if raw.startswith("["):
        try:
            items = json.loads(raw)
        except ValueError as exc:
            raise _bad("tags", "ожидается JSON-массив строк или список через запятую") from exc
        if not isinstance(items, list) or not all(isinstance(t, str | int | float) for t in items):
            raise _bad("tags", "ожидается JSON-массив строк")
        values = [str(t) for t in items]
    else:
        values = raw.split(",")
    tags: list[str] = []
    for t in values:
        t = t.strip()
        if t and t not in tags:
            tags.append(t[:100])
    if len(tags) > MAX_TAGS:
        raise _bad("tags", f"не больше {MAX_TAGS} тегов")
    return tags


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} недопустим")


def parse_options(fields: dict[str, str], default_ttl_days: int) -> UploadOptions:
    """Поля формы → параметры; любая ошибка — 422 до того, как что-либо записано."""
    opts = UploadOptions()
    policy = (fields.get("retention_policy") or "temporary").strip().lower()
    if policy not in _POLICIES:
        raise _bad("retention_policy", "допустимо temporary или permanent")
    opts.retention_policy = policy
    ttl_raw = (fields.get("ttl_days") or "").strip()
    if ttl_raw:
        if policy == "permanent":
            raise _bad("ttl_days", "задаётся только для temporary; срок permanent определяет элемент")
        if not (ttl_raw.isascii() and ttl_raw.isdigit()) or not 1 <= int(ttl_raw) <= 36500:
            raise _bad("ttl_days", "целое число дней от 1 до 36500")
        opts.ttl_days = int(ttl_raw)
    elif policy == "temporary":
        opts.ttl_days = default_ttl_days
    opts.description = (fields.get("description") or "")[:4000]
    meta_raw = (fields.get("metadata") or "").strip()
    if meta_raw:
        try:
            # NaN/Infinity — не JSON по RFC 8259 и не ложатся в jsonb: отказ здесь, а не на элементе
            meta = json.loads(meta_raw, parse_constant=_reject_constant)
        except ValueError as exc:
            raise _bad("metadata", f"не JSON: {exc}", "invalid_metadata") from exc
        if not isinstance(meta, dict):
            raise _bad("metadata", "ожидается JSON-объект {...}", "invalid_metadata")
        opts.metadata = meta
    opts.tags = parse_tags(fields.get("tags") or "")
    for name in ("description", "metadata", "tags"):
        if "\x00" in (fields.get(name) or "") or "\\u0000" in (fields.get(name) or ""):
            raise _bad(name, "символ NUL недопустим", "invalid_metadata" if name == "metadata" else "validation_error")
    algorithm = (fields.get("compression_algorithm") or "").strip().lower()
    compress = (fields.get("compress") or "").strip().lower()
    if algorithm and algorithm not in _ALGORITHMS:
        raise _bad("compression_algorithm", "допустимо gzip или brotli")
    if compress in _TRUE or (algorithm and compress not in ("0", "false", "no", "off")):
        opts.compression_algorithm = algorithm or "gzip"
    return opts


def element_meta(opts: UploadOptions, principal: Principal, filename: str, content_type: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "original_filename": filename or "file",
        "content_type": content_type or "application/octet-stream",
        "created_by_id": principal.subject,
        "created_by_username": principal.username,
        "description": opts.description,
        "tags": opts.tags,
        "metadata": opts.metadata,
        "retention_policy": opts.retention_policy,
    }
    if opts.ttl_days is not None:
        meta["ttl_days"] = opts.ttl_days
    if opts.compression_algorithm:
        meta["compression_algorithm"] = opts.compression_algorithm
    return meta


_DIGEST_RE = re.compile(r"(?:^|,)\s*sha-256\s*=\s*:([A-Za-z0-9+/=_-]+):", re.IGNORECASE)


def expected_sha256(*headers: str | None) -> str | None:
    """RFC 9530 ``Repr-Digest``/``Content-Digest``: значение sha-256 → hex; другие алгоритмы не проверяем."""
    for header in headers:
        if not header:
            continue
        m = _DIGEST_RE.search(header)
        if not m:
            continue
        try:
            digest = base64.b64decode(m.group(1).replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProblemError(400, "invalid_digest", "sha-256 в Repr-Digest/Content-Digest не base64") from exc
        if len(digest) != 32:
            raise ProblemError(400, "invalid_digest", "sha-256 в Repr-Digest/Content-Digest не 32 байта")
        return digest.hex()
    return None


def upload_result(attr: dict[str, Any]) -> dict[str, Any]:
    """Ответ клиенту: форма из docs/architecture.md §2 (+ content_type, compression, tags для UI)."""
    return {
        "file_id": attr.get("file_id"),
        "original_filename": attr.get("original_filename"),
        "storage_filename": attr.get("storage_filename"),
        "file_size": attr.get("file_size"),
        "checksum": attr.get("checksum"),
        "uploaded_at": attr.get("created_at"),
        "storage_element_id": attr.get("storage_element_id"),
        "retention_policy": attr.get("retention_policy"),
        "expires_at": attr.get("expires_at"),
        "content_type": attr.get("content_type"),
        "compression": attr.get("compression"),
        "tags": attr.get("tags", []),
    }
