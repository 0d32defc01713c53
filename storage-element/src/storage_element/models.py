"""Входные модели API элемента, которые знает только он: частичные загрузки и режим.

Метаданные записи (``FileMeta``, заголовок ``X-Artstore-Meta``) и запрос поиска — общий контракт с
ingester и query, они в ``artstore_common``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from artstore_common import FILE_ID_PATTERN


class UploadCreate(BaseModel):
    upload_id: str = Field(min_length=1, max_length=128)
    length: int = Field(ge=0)
    meta: dict[str, Any]
    expires_in: int | None = Field(default=None, ge=60, le=30 * 86400)
    # id будущего файла; по умолчанию совпадает с upload_id
    file_id: str | None = Field(default=None, max_length=128, pattern=FILE_ID_PATTERN)
    expected_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")


class ModeRequest(BaseModel):
    mode: Literal["edit", "rw", "ro", "ar"]


class PullRequest(BaseModel):
    """``POST /replication/pull``: забрать у соседа ``source`` (id члена из SE_REPLICATION_PEERS) его копию."""

    file_id: str = Field(min_length=1, max_length=128, pattern=FILE_ID_PATTERN)
    source: str = Field(min_length=1, max_length=100)


class RepairRequest(BaseModel):
    file_id: str = Field(min_length=1, max_length=128, pattern=FILE_ID_PATTERN)
