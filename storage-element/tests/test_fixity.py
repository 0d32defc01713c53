"""Диапазон не отдаёт испорченные байты (issue 14 §2.2), и при этом не перехэширует нетронутый файл.

Счётчик `el.fixity.full_hashes` — сколько раз файл хэшировался целиком ради вердикта.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from .conftest import put, running

pytestmark = pytest.mark.usefixtures("backend_kind")

BIG = 3 * 1024 * 1024 + 11  # больше SMALL_BODY: диапазоны идут и потоком, и одним чтением


async def _flip_byte(el, key: str, offset: int) -> None:
    """Один байт на месте; отпечаток (mtime/ctime/inode или ETag) меняется, как при любой записи в файл."""
    if el.backend.kind == "local":
        path = el.backend.root / key
        before = os.stat(path)
        with open(path, "r+b") as fh:
            fh.seek(offset)
            b = fh.read(1)
            fh.seek(offset)
            fh.write(bytes([b[0] ^ 0x01]))
        after = os.stat(path)
        if (after.st_mtime_ns, after.st_ctime_ns) == (before.st_mtime_ns, before.st_ctime_ns):
            # запись попала в тот же тик часов ФС, что и загрузка (их шаг — миллисекунды): так в жизни не
            # бывает, а тест не должен от этого зависеть — сдвигаем mtime, как сдвинула бы запись позже
            os.utime(path, ns=(after.st_atime_ns, after.st_mtime_ns + 1))
    else:
        c, bucket = el.backend.client, el.backend.bucket
        obj = await c.get_object(Bucket=bucket, Key=key)
        data = bytearray(await obj["Body"].read())
        data[offset] ^= 0x01
        await c.put_object(Bucket=bucket, Key=key, Body=bytes(data))


async def test_range_of_corrupted_file_is_409_not_bytes(make_settings, backend_kind, admin) -> None:
    big, small = os.urandom(BIG), os.urandom(200_000)
    async with running(make_settings(storage_type=backend_kind)) as (app, c):
        el = app.state.element
        files = {
            "big": ((await put(c, admin, big)).json(), big),
            "small": ((await put(c, admin, small)).json(), small),
            "gzip": ((await put(c, admin, small, compression_algorithm="gzip")).json(), small),
        }
        for name, (attr, data) in files.items():
            url = f"/api/v1/files/{attr['file_id']}/content"
            for lo, hi in ((0, 99), (1000, len(data) - 1), (len(data) - 10, len(data) - 1)):
                r = await c.get(url, headers={**admin, "Range": f"bytes={lo}-{hi}"})
                assert r.status_code == 206 and r.content == data[lo:hi + 1], (name, lo, hi)
        assert el.fixity.full_hashes == 0  # вердикт поставлен при записи
        for name, (attr, _data) in files.items():
            await _flip_byte(el, attr["storage_path"], 5000 if name != "gzip" else 20)
            url = f"/api/v1/files/{attr['file_id']}/content"
            r = await c.get(url, headers={**admin, "Range": "bytes=0-99"})
            assert r.status_code == 409, (name, r.status_code)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "file_corrupted"
            # помечен: дальше 409 без перехэширования, и целиком тоже
            hashes = el.fixity.full_hashes
            assert (await c.get(url, headers={**admin, "Range": "bytes=10-20"})).status_code == 409
            assert (await c.get(url, headers=admin)).status_code == 409
            assert el.fixity.full_hashes == hashes
            meta = (await c.get(f"/api/v1/files/{attr['file_id']}", headers=admin)).json()
            assert meta["corrupted"] is True, name
        assert el.fixity.full_hashes == 3


async def test_untouched_file_is_hashed_once_per_process(make_settings, backend_kind, admin) -> None:
    settings = make_settings(storage_type=backend_kind)
    big, small = os.urandom(BIG), os.urandom(50_000)
    async with running(settings) as (_, c):
        fb = (await put(c, admin, big)).json()
        fs = (await put(c, admin, small)).json()
    async with running(settings) as (app, c):
        el = app.state.element
        # после перезапуска вердикта нет: первый диапазон проверяет файл целиком — один раз на всех
        url = f"/api/v1/files/{fb['file_id']}/content"
        ranges = [(i * 1000, i * 1000 + 2 * 1024 * 1024) for i in range(6)]
        rs = await asyncio.gather(*(c.get(url, headers={**admin, "Range": f"bytes={lo}-{hi}"}) for lo, hi in ranges))
        for (lo, hi), r in zip(ranges, rs, strict=True):
            assert r.status_code == 206 and r.content == big[lo:hi + 1]
        assert el.fixity.full_hashes == 1
        for _ in range(5):
            r = await c.get(url, headers={**admin, "Range": "bytes=-100"})
            assert r.status_code == 206 and r.content == big[-100:]
        assert el.fixity.full_hashes == 1
        # полное чтение ставит вердикт: диапазон после него не хэширует
        surl = f"/api/v1/files/{fs['file_id']}/content"
        assert (await c.get(surl, headers=admin)).content == small
        r = await c.get(surl, headers={**admin, "Range": "bytes=10-19"})
        assert r.status_code == 206 and r.content == small[10:20]
        assert el.fixity.full_hashes == 1
    async with running(settings) as (app, c):
        el = app.state.element
        # скраб тоже ставит вердикт
        assert (await c.post("/api/v1/scrub", headers=admin)).json()["corrupted"] == []
        for f, data in ((fb, big), (fs, small)):
            r = await c.get(f"/api/v1/files/{f['file_id']}/content", headers={**admin, "Range": "bytes=1-2"})
            assert r.status_code == 206 and r.content == data[1:3]
        assert el.fixity.full_hashes == 0
