"""API файлов на обоих хранилищах (local и S3 через moto)."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid

import pytest

from .conftest import meta_header, put, running

pytestmark = pytest.mark.usefixtures("backend_kind")


@pytest.fixture
def settings(make_settings, backend_kind):
    return make_settings(storage_type=backend_kind)


async def test_put_get_content_roundtrip(settings, admin, token_factory) -> None:
    data = os.urandom(200_000)
    async with running(settings) as (_, c):
        r = await put(c, admin, data, original_filename="Годовой отчёт.pdf", tags=["отчёт", "2026"],
                      metadata={"отдел": "финансы"}, retention_policy="temporary", ttl_days=3)
        assert r.status_code == 201, r.text
        attr = r.json()
        assert attr["checksum"] == hashlib.sha256(data).hexdigest()
        assert attr["file_size"] == len(data)
        assert attr["storage_filename"].startswith("Годовой отчёт_ivanov_")
        assert attr["expires_at"] and attr["schema_version"] == 2
        fid = attr["file_id"]
        reader = token_factory.headers("READONLY")
        meta = (await c.get(f"/api/v1/files/{fid}", headers=reader)).json()
        assert meta["original_filename"] == "Годовой отчёт.pdf" and meta["corrupted"] is False
        r = await c.get(f"/api/v1/files/{fid}/content", headers=reader)
        assert r.status_code == 200 and r.content == data
        assert r.headers["etag"] == f'"{attr["checksum"]}"'
        assert r.headers["accept-ranges"] == "bytes"
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert r.headers["repr-digest"] == f"sha-256=:{digest}:"
        assert "filename*=UTF-8''" in r.headers["content-disposition"]
        # диапазоны: обычный, открытый, суффикс
        for rng, part in (("bytes=10-19", data[10:20]), ("bytes=199990-", data[199990:]), ("bytes=-5", data[-5:])):
            r = await c.get(f"/api/v1/files/{fid}/content", headers={**reader, "Range": rng})
            assert r.status_code == 206 and r.content == part, rng
        r = await c.get(f"/api/v1/files/{fid}/content", headers={**reader, "Range": "bytes=10-19"})
        assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
        r = await c.get(f"/api/v1/files/{fid}/content", headers={**reader, "Range": "bytes=500000-"})
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
        # If-Range с чужим ETag — весь файл
        r = await c.get(f"/api/v1/files/{fid}/content", headers={**reader, "Range": "bytes=0-0", "If-Range": '"x"'})
        assert r.status_code == 200 and len(r.content) == len(data)
        r = await c.get(f"/api/v1/files/{fid}/content",
                        headers={**reader, "Range": "bytes=0-0", "If-Range": f'"{attr["checksum"]}"'})
        assert r.status_code == 206 and r.content == data[:1]
        info = (await c.get("/api/v1/info", headers=reader)).json()
        assert info["file_count"] == 1 and info["used_bytes"] == len(data)
        assert info["expiring_soon"] == 1  # временный файл с ttl_days=3 попадает в окно уведомлений (7 дней)
        ready = await c.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) == {"database", "storage", "wal", "redis", "event_outbox"}
        metrics = (await c.get("/metrics")).text
        for name in ("artstore_storage_capacity_bytes", "artstore_storage_used_bytes", "artstore_storage_files",
                     "artstore_storage_disk_free_bytes"):
            assert f'{name}{{storage_element="se-t1"}}' in metrics
        assert f'artstore_storage_used_bytes{{storage_element="se-t1"}} {float(len(data))}' in metrics


async def test_idempotent_repeat_and_conflict(settings, admin) -> None:
    async with running(settings) as (_, c):
        fid = str(uuid.uuid4())
        assert (await put(c, admin, b"hello", fid)).status_code == 201
        assert (await put(c, admin, b"hello", fid)).status_code == 200
        r = await put(c, admin, b"other", fid)
        assert r.status_code == 409 and r.json()["code"] == "file_exists"


async def test_created_at_from_writer_fixes_path_and_dates(settings, admin) -> None:
    """Пишущий сервис задал created_at (так пишет реплицированный элемент, docs/replication.md §3): путь,
    срок и updated_at строятся из него — два члена с одним created_at дают одинаковые attr.json."""
    created = "2026-03-04T05:06:07.123456Z"
    async with running(settings) as (_, c):
        first = await put(c, admin, b"copy", created_at=created, retention_policy="temporary", ttl_days=10)
        assert first.status_code == 201, first.text
        attr = first.json()
        assert attr["storage_path"].startswith("2026/03/04/05/") and "_20260304T050607_" in attr["storage_path"]
        assert attr["created_at"] == attr["updated_at"] == created
        assert attr["expires_at"] == "2026-03-14T05:06:07.123456Z"


async def test_bad_input_never_500(settings, admin) -> None:
    async with running(settings) as (_, c):
        r = await c.put("/api/v1/files/x1", content=b"x", headers={**admin, "X-Artstore-Meta": "%%%not-base64"})
        assert r.status_code == 422 and r.json()["code"] == "invalid_meta"
        bad_json = base64.urlsafe_b64encode(b"{not json").decode()
        r = await c.put("/api/v1/files/x1", content=b"x", headers={**admin, "X-Artstore-Meta": bad_json})
        assert r.status_code == 422
        r = await c.put("/api/v1/files/x1", content=b"x", headers=admin)
        assert r.status_code == 422
        r = await c.put("/api/v1/files/..%2F..%2Fetc", content=b"x",
                        headers={**admin, "X-Artstore-Meta": meta_header()})
        assert r.status_code in (404, 422)
        assert (await c.get("/api/v1/files/nope", headers=admin)).json()["code"] == "file_not_found"
        assert (await c.get("/api/v1/files/nope/content", headers=admin)).status_code == 404
        assert (await c.get("/api/v1/files/..%2Fx", headers=admin)).status_code == 404
        r = await put(c, admin, b"x", original_filename="../../../etc/passwd")
        assert r.status_code == 201 and ".." not in r.json()["storage_path"].split("/")


async def test_checksum_mismatch_and_too_large_write_nothing(settings, admin) -> None:
    async with running(settings) as (_app, c):
        r = await c.put(f"/api/v1/files/{uuid.uuid4()}", content=b"data",
                        headers={**admin, "X-Artstore-Meta": meta_header(), "X-Expected-SHA256": "0" * 64})
        assert r.status_code == 422 and r.json()["code"] == "checksum_mismatch"
        r = await put(c, admin, b"data", metadata={"blob": "я" * 3000})
        assert r.status_code == 413 and r.json()["code"] == "attributes_too_large"
        rep = (await c.get("/api/v1/cache/consistency", headers=admin)).json()
        assert rep["orphan_data"] == [] and rep["orphan_attr"] == [] and rep["checked"] == 0
        assert (await c.get("/api/v1/info", headers=admin)).json()["file_count"] == 0


async def test_insufficient_storage(make_settings, backend_kind, admin) -> None:
    async with running(make_settings(storage_type=backend_kind, max_size="100KiB")) as (_, c):
        r = await put(c, admin, os.urandom(150_000))
        assert r.status_code == 507 and r.json()["code"] == "insufficient_storage"

        async def chunked():
            for _ in range(4):
                yield os.urandom(40_000)

        r = await c.put(f"/api/v1/files/{uuid.uuid4()}", content=chunked(),
                        headers={**admin, "X-Artstore-Meta": meta_header()})
        assert r.status_code == 507
        rep = (await c.get("/api/v1/cache/consistency", headers=admin)).json()
        assert rep["checked"] == 0 and rep["orphan_data"] == []
        assert (await put(c, admin, b"small")).status_code == 201


@pytest.mark.parametrize("algorithm", ["gzip", "brotli"])
async def test_compression_roundtrip(settings, admin, algorithm) -> None:
    data = b"ArtStore " * 50_000
    async with running(settings) as (_, c):
        r = await put(c, admin, data, compression_algorithm=algorithm)
        attr = r.json()
        assert attr["compression"]["algorithm"] == algorithm and attr["compression"]["stored_size"] < len(data)
        url = f"/api/v1/files/{attr['file_id']}/content"
        assert (await c.get(url, headers=admin)).content == data
        r = await c.get(url, headers={**admin, "Range": "bytes=100000-100099"})
        assert r.status_code == 206 and r.content == data[100000:100100]
        raw = await c.get(url + "?raw=true", headers=admin)
        assert len(raw.content) == attr["compression"]["stored_size"]


async def test_big_file_streams(settings, admin) -> None:
    # > 8 МиБ: в S3 уходит multipart-загрузкой
    data = os.urandom(19 * 1024 * 1024 + 123)

    async def body():
        for i in range(0, len(data), 256 * 1024):
            yield data[i:i + 256 * 1024]

    async with running(settings) as (_, c):
        r = await c.put(f"/api/v1/files/{uuid.uuid4()}", content=body(),
                        headers={**admin, "X-Artstore-Meta": meta_header()})
        assert r.status_code == 201, r.text
        got = await c.get(f"/api/v1/files/{r.json()['file_id']}/content", headers=admin)
        assert hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()


async def test_auth_and_roles(settings, admin, token_factory) -> None:
    async with running(settings) as (_, c):
        # сведения об элементе — тоже только с токеном (docs/architecture.md §2), но любой роли
        for path in ("/api/v1/info", "/api/v1/capacity"):
            r = await c.get(path)
            assert r.status_code == 401 and "Bearer" in r.headers["www-authenticate"], path
            assert (await c.get(path, headers=token_factory.headers("READONLY"))).status_code == 200, path
        r = await c.get("/api/v1/files/x")
        assert r.status_code == 401 and "Bearer" in r.headers["www-authenticate"]
        r = await put(c, token_factory.headers("USER"), b"x")
        assert r.status_code == 403
        assert (await c.post("/api/v1/scrub", headers=token_factory.headers("READONLY"))).status_code == 403


async def test_delete_only_in_edit(make_settings, backend_kind, admin, tmp_path) -> None:
    async with running(make_settings(storage_type=backend_kind, mode="edit")) as (_, c):
        fid = (await put(c, admin, b"bye")).json()["file_id"]
        assert (await c.delete(f"/api/v1/files/{fid}", headers=admin)).status_code == 204
        assert (await c.get(f"/api/v1/files/{fid}", headers=admin)).status_code == 404
        assert (await c.delete(f"/api/v1/files/{fid}", headers=admin)).status_code == 404
    async with running(make_settings(storage_type=backend_kind, mode="rw", table_prefix="se_rw",
                                     data_dir=tmp_path / "rw", s3_bucket=f"rw-{uuid.uuid4().hex[:8]}")) as (_, c):
        fid = (await put(c, admin, b"keep", retention_policy="permanent")).json()["file_id"]
        r = await c.delete(f"/api/v1/files/{fid}", headers=admin)
        assert r.status_code == 409 and r.json()["code"] == "mode_forbids_operation"
        assert "rw" in r.json()["detail"]


async def test_write_survives_a_dropped_database_connection(settings, admin, database_url) -> None:
    """Соединение пула оборвано (переключение PostgreSQL, рестарт): строка кэша вставляется на новом соединении,
    загрузка — 201, а не 500 при файле, который уже лёг на диск."""
    import asyncpg

    async with running(settings) as (app, client):
        assert (await put(client, admin, b"before")).status_code == 201
        pool = app.state.element.cache.pool
        async with pool.acquire() as conn:
            pid = conn.get_server_pid()
        killer = await asyncpg.connect(database_url)
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        r = await put(client, admin, b"after the drop")
        assert r.status_code == 201, r.text
        got = await client.get(f"/api/v1/files/{r.json()['file_id']}/content", headers=admin)
        assert got.status_code == 200 and got.content == b"after the drop"
