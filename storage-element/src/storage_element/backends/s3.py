"""S3 (MinIO, облако): та же раскладка ключей; точка фиксации — PUT объекта или завершение multipart.

Большие файлы идут частями по 8 МиБ по мере поступления: в памяти не больше одной части на загрузку.
Бакет — один на элемент (перечисление для пересборки кэша видит весь бакет).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from ..layout import attr_key
from ..settings import Settings
from .base import READ_CHUNK, Backend, Sink, Stamp, Transform

PART_SIZE = 8 * 1024 * 1024


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "NoSuchUpload")


class S3Sink(Sink):
    def __init__(self, backend: S3Backend, key: str) -> None:
        self.b = backend
        self.key = key
        self.buf = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.stored_size = 0

    async def _flush(self, final: bool) -> None:
        while len(self.buf) >= PART_SIZE or (final and self.upload_id and self.buf):
            body = bytes(self.buf[:PART_SIZE])
            del self.buf[:PART_SIZE]
            if self.upload_id is None:
                resp = await self.b.client.create_multipart_upload(Bucket=self.b.bucket, Key=self.key)
                self.upload_id = resp["UploadId"]
            number = len(self.parts) + 1
            resp = await self.b.client.upload_part(Bucket=self.b.bucket, Key=self.key, UploadId=self.upload_id,
                                                   PartNumber=number, Body=body)
            self.parts.append({"PartNumber": number, "ETag": resp["ETag"]})

    def _take(self, out: list[bytes]) -> None:
        for b in out:
            self.buf += b
            self.stored_size += len(b)

    async def write(self, batch: list[bytes], process: Transform) -> None:
        self._take(await asyncio.to_thread(process, batch))
        await self._flush(False)

    async def finish(self, batch: list[bytes], process: Transform, final: Callable[[], list[bytes]]) -> None:
        self._take(await asyncio.to_thread(lambda: process(batch) + final()))
        await self._flush(True)

    async def abort(self) -> None:
        if self.upload_id:
            with contextlib.suppress(ClientError):
                await self.b.client.abort_multipart_upload(Bucket=self.b.bucket, Key=self.key, UploadId=self.upload_id)
        self.buf = bytearray()


class S3Backend(Backend):
    kind = "s3"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bucket = settings.s3_bucket
        self.cold_bucket = settings.s3_cold_bucket
        self._stack = contextlib.AsyncExitStack()
        self.client: Any = None

    async def start(self) -> None:
        session = aioboto3.Session()
        s = self.settings
        self.client = await self._stack.enter_async_context(session.client(
            "s3", endpoint_url=s.s3_endpoint_url, aws_access_key_id=s.s3_access_key or None,
            aws_secret_access_key=s.s3_secret_key or None, region_name=s.s3_region,
            config=Config(max_pool_connections=64, retries={"max_attempts": 3, "mode": "standard"},
                          request_checksum_calculation="when_required", response_checksum_validation="when_required"),
        ))
        for bucket in (self.bucket, self.cold_bucket):
            try:
                await self.client.head_bucket(Bucket=bucket)
            except ClientError:
                with contextlib.suppress(ClientError):
                    await self.client.create_bucket(Bucket=bucket)

    async def close(self) -> None:
        await self._stack.aclose()

    async def health(self) -> str | None:
        await self.client.head_bucket(Bucket=self.bucket)
        return None

    def open_sink(self, key: str, op_id: str) -> Sink:
        return S3Sink(self, key)

    async def publish(self, sink: Sink, key: str, attr: bytes) -> Stamp:
        assert isinstance(sink, S3Sink)
        if sink.upload_id:
            resp = await self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=sink.upload_id, MultipartUpload={"Parts": sink.parts})
        else:
            resp = await self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(sink.buf))
        sink.buf = bytearray()
        await self.write_attr(key, attr)
        return Stamp(sink.stored_size, (str(resp["ETag"]),))

    async def read_attr(self, key: str) -> bytes | None:
        try:
            resp = await self.client.get_object(Bucket=self.bucket, Key=attr_key(key))
            body = resp["Body"]
            try:
                return bytes(await body.read())
            finally:
                body.close()
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    async def write_attr(self, key: str, attr: bytes) -> None:
        await self.client.put_object(Bucket=self.bucket, Key=attr_key(key), Body=attr,
                                     ContentType="application/json")

    async def _size(self, bucket: str, key: str) -> int | None:
        try:
            return int((await self.client.head_object(Bucket=bucket, Key=key))["ContentLength"])
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    async def data_size(self, key: str) -> int | None:
        return await self._size(self.bucket, key)

    async def stamp(self, key: str) -> Stamp | None:
        # ETag меняется при любой перезаписи объекта; Last-Modified (точность — секунда) к нему ничего не добавляет
        try:
            head = await self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return Stamp(int(head["ContentLength"]), (str(head["ETag"]),))

    async def iter_range(self, key: str, start: int, end: int, transform: Callable[[bytes], bytes] | None = None,
                         on_stamp: Callable[[Stamp], None] | None = None) -> AsyncIterator[bytes]:
        if end <= start:
            return
        resp = await self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")
        if on_stamp is not None:
            total = str(resp.get("ContentRange", "")).rpartition("/")[2]
            on_stamp(Stamp(int(total) if total.isdigit() else int(resp["ContentLength"]), (str(resp["ETag"]),)))
        body = resp["Body"]
        try:
            buf = bytearray()
            async for piece in body.iter_chunks(256 * 1024):
                buf += piece
                if len(buf) >= READ_CHUNK:
                    data = bytes(buf)
                    buf.clear()
                    yield await asyncio.to_thread(transform, data) if transform else data
            if buf:
                data = bytes(buf)
                yield transform(data) if transform else data
        finally:
            body.close()

    async def _delete_obj(self, bucket: str, key: str) -> None:
        with contextlib.suppress(ClientError):
            await self.client.delete_object(Bucket=bucket, Key=key)

    async def delete(self, key: str) -> None:
        await self._delete_obj(self.bucket, attr_key(key))
        await self._delete_obj(self.bucket, key)
        await self._delete_obj(self.cold_bucket, key)

    async def rollback(self, key: str, op_id: str) -> None:
        resp = await self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        for up in resp.get("Uploads", []):
            if up["Key"] == key:
                with contextlib.suppress(ClientError):
                    await self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=up["UploadId"])
        has_data = await self.data_size(key) is not None
        has_attr = await self._size(self.bucket, attr_key(key)) is not None
        if has_data != has_attr:
            await self.delete(key)

    async def cleanup_tmp(self) -> int:
        # незавершённые multipart-загрузки закрывает rollback по WAL; здесь — только локальные остатки
        tmp = Path(self.settings.data_dir) / ".tmp"
        removed = 0
        if tmp.is_dir():
            for p in tmp.iterdir():
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed += 1
        return removed

    async def list_keys(self) -> AsyncIterator[list[str]]:
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, PaginationConfig={"PageSize": 1000}):
            keys = [o["Key"] for o in page.get("Contents", [])]
            if keys:
                yield keys

    async def archive(self, key: str) -> None:
        if await self.data_size(key) is None:
            return
        await self.client.copy_object(Bucket=self.cold_bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": key})
        await self.client.delete_object(Bucket=self.bucket, Key=key)

    async def restore(self, key: str) -> None:
        if await self.data_size(key) is not None:
            return
        await self.client.copy_object(Bucket=self.bucket, Key=key, CopySource={"Bucket": self.cold_bucket, "Key": key})

    async def in_cold(self, key: str) -> bool:
        return await self._size(self.cold_bucket, key) is not None

    def disk_free(self) -> int | None:
        return None
