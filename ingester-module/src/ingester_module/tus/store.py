"""Состояние tus-загрузки в Redis: ingester без состояния, любая реплика продолжает чужую загрузку.

Данные лежат на элементе (его частичная загрузка), здесь — только куда и чья:
``{ns}:tus:{upload_id}`` → JSON, TTL = срок жизни загрузки. У реплицированного элемента частичная загрузка
живёт на одном члене: ``element_id`` — логический элемент, ``member_id`` и ``api_url`` — член.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from artstore_common import ProblemError, StorageElement


@dataclass(slots=True)
class TusUpload:
    upload_id: str
    element_id: str
    api_url: str
    owner_id: str
    owner_name: str
    length: int
    expires_at: str
    expires_ts: float
    meta: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    member_id: str | None = None

    @property
    def target(self) -> StorageElement:
        """Элемент (или член), на котором лежит частичная загрузка (адрес — как при её создании)."""
        return StorageElement(id=self.member_id or self.element_id, api_url=self.api_url)


class TusStore:
    def __init__(self, redis: aioredis.Redis, namespace: str) -> None:
        self.redis = redis
        self.prefix = f"{namespace}:tus:"

    async def save(self, upload: TusUpload, ttl: int) -> None:
        try:
            await self.redis.set(self.prefix + upload.upload_id, json.dumps(asdict(upload), ensure_ascii=False),
                                 ex=max(ttl, 1))
        except (RedisError, OSError) as exc:
            raise ProblemError(503, "state_unavailable",
                               "Redis недоступен: состояние возобновляемой загрузки не сохранить; "
                               "повторите позже или используйте /files/upload", headers={"Retry-After": "5"}) from exc

    async def load(self, upload_id: str) -> TusUpload:
        try:
            raw = await self.redis.get(self.prefix + upload_id)
        except (RedisError, OSError) as exc:
            raise ProblemError(503, "state_unavailable", "Redis недоступен: состояние загрузки не прочитать",
                               headers={"Retry-After": "5"}) from exc
        if not raw:
            raise ProblemError(404, "upload_not_found", f"загрузка {upload_id} не найдена или истекла")
        return TusUpload(**json.loads(raw))

    async def delete(self, upload_id: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self.prefix + upload_id)


def parse_upload_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata: key base64,key2 base64`` → словарь строк (ключ без значения — пустая строка)."""
    result: dict[str, str] = {}
    if not header:
        return result
    for pair in header.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        try:
            result[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ProblemError(400, "invalid_upload_metadata", f"Upload-Metadata: {key} не base64 UTF-8") from exc
    return result
