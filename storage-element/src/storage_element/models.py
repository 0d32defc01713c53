"""Входные модели API элемента: метаданные файла, поиск, частичные загрузки, режим."""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from artstore_common import ProblemError


class FileMeta(BaseModel):
    """То, что ingester передаёт в X-Artstore-Meta (base64url JSON)."""

    model_config = ConfigDict(extra="ignore")

    original_filename: str = Field(min_length=1, max_length=1024)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    created_by_id: str | None = Field(default=None, max_length=128)
    created_by_username: str = Field(default="unknown", max_length=128)
    description: str | None = Field(default=None, max_length=4096)
    tags: list[str] = Field(default_factory=list, max_length=100)
    metadata: dict[str, Any] = Field(default_factory=dict)
    retention_policy: Literal["temporary", "permanent"] = "temporary"
    ttl_days: int | None = Field(default=None, ge=1, le=36500)
    expires_at: datetime | None = None
    compression_algorithm: Literal["gzip", "brotli"] | None = None
    created_at: datetime | None = None

    @field_validator("original_filename", "content_type", "created_by_id", "created_by_username", "description",
                     "metadata", "tags")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """PostgreSQL не хранит NUL в text/jsonb, JSON — NaN/Infinity: такие значения отвергаются сразу,
        до записи на диск, иначе attr.json лёг бы рядом с данными, а строка кэша — нет."""
        problem = _unstorable(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        out = []
        for t in tags:
            t = str(t).strip()
            if t and t not in out:
                out.append(t[:100])
        return out


def _unstorable(value: Any, depth: int = 0) -> str | None:
    if depth > 20:
        return "слишком глубокая вложенность"
    if isinstance(value, str):
        return "символ NUL (\\u0000) недопустим" if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else "NaN и бесконечность недопустимы в JSON"
    if isinstance(value, dict):
        for k, v in value.items():
            problem = _unstorable(k, depth + 1) or _unstorable(v, depth + 1)
            if problem:
                return problem
    if isinstance(value, list):
        for v in value:
            problem = _unstorable(v, depth + 1)
            if problem:
                return problem
    return None


def parse_meta_header(value: str | None) -> FileMeta:
    if not value:
        raise ProblemError(422, "invalid_meta", "нужен заголовок X-Artstore-Meta: base64url(JSON) с original_filename")
    try:
        raw = base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise ProblemError(422, "invalid_meta", f"X-Artstore-Meta не разобран: ожидается base64url от JSON ({exc})") \
            from exc
    return meta_from_obj(data)


def meta_from_obj(data: Any) -> FileMeta:
    if not isinstance(data, dict):
        raise ProblemError(422, "invalid_meta", "метаданные файла должны быть JSON-объектом")
    try:
        return FileMeta.model_validate(data)
    except ValidationError as exc:
        first = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise ProblemError(422, "invalid_meta", f"метаданные файла не прошли проверку: {first}") from exc


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str | None = Field(default=None, max_length=1000)
    filename: str | None = Field(default=None, max_length=1000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    username: str | None = None
    content_type: str | None = None
    min_size: int | None = Field(default=None, ge=0, le=2**63 - 1)  # bigint PostgreSQL
    max_size: int | None = Field(default=None, ge=0, le=2**63 - 1)
    created_after: datetime | None = None
    created_before: datetime | None = None
    mode: Literal["exact", "partial", "fulltext"] = "fulltext"
    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=100_000)
    sort_by: Literal["relevance", "created_at", "file_size", "name"] = "relevance"
    sort_order: Literal["asc", "desc"] = "desc"


class UploadCreate(BaseModel):
    upload_id: str = Field(min_length=1, max_length=128)
    length: int = Field(ge=0)
    meta: dict[str, Any]
    expires_in: int | None = Field(default=None, ge=60, le=30 * 86400)
    # id будущего файла; по умолчанию совпадает с upload_id
    file_id: str | None = Field(default=None, max_length=128)
    expected_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")


class ModeRequest(BaseModel):
    mode: Literal["edit", "rw", "ro", "ar"]
