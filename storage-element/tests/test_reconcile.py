"""Пересборка кэша из attr.json, отчёт сверки и проверка целостности (скраб + отказ в отдаче)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from .conftest import put, running


async def _flip_byte(el, key: str) -> None:
    if el.backend.kind == "local":
        path = el.backend.root / key
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        resp = await el.backend.client.get_object(Bucket=el.backend.bucket, Key=key)
        data = bytearray(await resp["Body"].read())
        data[len(data) // 2] ^= 0xFF
        await el.backend.client.put_object(Bucket=el.backend.bucket, Key=key, Body=bytes(data))


async def test_drop_table_rebuild(make_settings, backend_kind, admin) -> None:
    async with running(make_settings(storage_type=backend_kind)) as (app, c):
        ids = [(await put(c, admin, f"file {i}".encode(), tags=[f"t{i}"])).json()["file_id"] for i in range(12)]
        el = app.state.element
        async with el.engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE {el.settings.files_table}"))
        r = await c.post("/api/v1/cache/rebuild?mode=full", headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["scanned"] == 12 and r.json()["inserted"] == 12 and r.json()["errors"] == []
        assert (await c.post("/api/v1/search", json={}, headers=admin)).json()["total_count"] == 12
        for fid in ids:
            assert (await c.get(f"/api/v1/files/{fid}/content", headers=admin)).status_code == 200
        assert (await c.get("/api/v1/info", headers=admin)).json()["file_count"] == 12
        r = await c.post("/api/v1/cache/rebuild?mode=incremental", headers=admin)
        assert r.json()["inserted"] == 0 and r.json()["updated"] == 0


async def test_consistency_reports_only(make_settings, admin, tmp_path) -> None:
    async with running(make_settings()) as (_app, c):
        a = (await put(c, admin, b"a")).json()
        b = (await put(c, admin, b"b")).json()
        root = tmp_path / "data"
        (root / a["storage_path"]).unlink()  # attr.json остался без данных, строка кэша — устаревшая
        (root / (b["storage_path"] + ".attr.json")).unlink()  # данные без attr.json
        rep = (await c.get("/api/v1/cache/consistency", headers=admin)).json()
        assert rep["orphan_attr"] == [a["storage_path"]]
        assert rep["orphan_data"] == [b["storage_path"]]
        assert sorted(rep["stale_rows"]) == sorted([a["file_id"], b["file_id"]])
        assert (root / b["storage_path"]).exists()  # ничего не удалено
        assert (await c.get("/api/v1/cache/consistency", headers={})).status_code == 401


async def test_scrub_flags_corruption_and_download_refuses(make_settings, backend_kind, admin) -> None:
    async with running(make_settings(storage_type=backend_kind)) as (app, c):
        el = app.state.element
        good = (await put(c, admin, b"good" * 1000)).json()
        bad = (await put(c, admin, b"bad!" * 1000)).json()
        streamed = (await put(c, admin, b"live" * 1000)).json()
        await _flip_byte(el, bad["storage_path"])
        await _flip_byte(el, streamed["storage_path"])
        # полная отдача сверяет хэш: малый файл с локального диска проверяется до отправки (явный 409),
        # потоковая отдача — на лету (обрыв потока); успешным ответ не бывает ни в одном случае
        try:
            r = await c.get(f"/api/v1/files/{streamed['file_id']}/content", headers=admin)
        except Exception as exc:  # обрыв потока — тоже ожидаемый исход
            assert "sha256" in str(exc)
        else:
            assert r.status_code == 409 and r.json()["code"] == "file_corrupted"
        r = await c.get(f"/api/v1/files/{streamed['file_id']}/content", headers=admin)
        assert r.status_code == 409 and r.json()["code"] == "file_corrupted"
        rep = (await c.post("/api/v1/scrub", headers=admin)).json()
        assert {x["file_id"] for x in rep["corrupted"]} == {bad["file_id"], streamed["file_id"]}
        assert rep["checked"] == 3 and rep["missing"] == []
        r = await c.get(f"/api/v1/files/{bad['file_id']}/content", headers=admin)
        assert r.status_code == 409 and r.json()["code"] == "file_corrupted"
        r = await c.get(f"/api/v1/files/{bad['file_id']}/content", headers={**admin, "Range": "bytes=0-1"})
        assert r.status_code == 409
        assert (await c.get(f"/api/v1/files/{bad['file_id']}", headers=admin)).json()["corrupted"] is True
        assert (await c.get(f"/api/v1/files/{good['file_id']}/content", headers=admin)).status_code == 200
        metrics = (await c.get("/metrics")).text
        assert "artstore_scrub_runs_total 1.0" in metrics
        assert "artstore_scrub_corruptions_total 2.0" in metrics
        assert 'artstore_storage_files{storage_element="se-t1"} 3.0' in metrics


async def test_scrub_announces_corruption_once(make_settings, admin, redis_url, redis_namespace) -> None:
    # кэши query держат «corrupted: false», пока не узнают о пометке: событие file_corrupted (поток и канал),
    # одно на файл — повторный скраб того же файла вебхуки не повторяет
    import json

    import redis.asyncio as aioredis

    from artstore_common import events_stream

    async with running(make_settings()) as (app, c):
        el = app.state.element
        bad = (await put(c, admin, b"bad!" * 1000)).json()
        await _flip_byte(el, bad["storage_path"])
        for _ in range(2):
            assert (await c.post("/api/v1/scrub", headers=admin)).status_code == 200
    # события элемента идут через outbox: останов элемента переносит накопленное в поток
    redis = aioredis.from_url(redis_url)
    try:
        events = [json.loads(fields[b"event"]) for _, fields in await redis.xrange(events_stream(redis_namespace))]
    finally:
        await redis.aclose()
    corrupted = [e for e in events if e["type"] == "file_corrupted"]
    assert len(corrupted) == 1
    assert corrupted[0]["data"]["file_id"] == bad["file_id"]
    assert corrupted[0]["data"]["storage_element_id"] == "se-t1"
    assert corrupted[0]["data"]["expected_checksum"] == bad["checksum"]


async def test_large_corrupt_file_stream_is_aborted(make_settings, admin) -> None:
    # больше порога малых тел: отдаётся потоком кусками, хэш сверяется в конце — обрыв, а не успех
    async with running(make_settings()) as (app, c):
        el = app.state.element
        body = bytes(range(256)) * (9 * 4096 + 7)  # ≈ 9 МиБ: несколько кусков потоковой отдачи
        big = (await put(c, admin, body)).json()
        r = await c.get(f"/api/v1/files/{big['file_id']}/content", headers=admin)
        assert r.status_code == 200 and r.content == body
        r = await c.get(f"/api/v1/files/{big['file_id']}/content", headers={**admin, "Range": "bytes=100-5000000"})
        assert r.status_code == 206 and r.content == body[100:5000001]
        await _flip_byte(el, big["storage_path"])
        with pytest.raises(Exception, match="sha256"):
            await c.get(f"/api/v1/files/{big['file_id']}/content", headers=admin)
        r = await c.get(f"/api/v1/files/{big['file_id']}/content", headers=admin)
        assert r.status_code == 409 and r.json()["code"] == "file_corrupted"


@pytest.mark.parametrize("compress", [False, True])
async def test_corrupt_stream_over_real_http_never_completes(make_settings, admin, compress) -> None:
    """По настоящему HTTP: клиент не получает все байты по Content-Length, если хэш не сошёлся — иначе
    обрыв после последнего байта был бы для него успешным ответом с испорченным файлом."""
    import httpx

    from artstore_common.testing import UvicornThread
    from storage_element.app import create_app

    app = create_app(make_settings())
    body = bytes(range(256)) * (9 * 4096 + 7)
    with UvicornThread(app) as srv:
        async with httpx.AsyncClient(base_url=srv.url, timeout=60) as c:
            extra = {"compression_algorithm": "gzip"} if compress else {}
            big = (await put(c, admin, body, **extra)).json()
            assert bool(big["compression"]) is compress
            await _flip_byte(app.state.element, big["storage_path"])
            received = bytearray()
            with pytest.raises(httpx.HTTPError):
                async with c.stream("GET", f"/api/v1/files/{big['file_id']}/content", headers=admin) as r:
                    assert r.status_code == 200
                    async for chunk in r.aiter_bytes():
                        received += chunk
            assert len(received) < len(body)


async def test_truncated_large_file_is_marked_corrupt(make_settings, admin) -> None:
    # файл короче attr.json — повреждение: поток оборван, а следующие чтения сразу получают 409
    async with running(make_settings()) as (app, c):
        body = bytes(range(256)) * (9 * 4096 + 7)
        big = (await put(c, admin, body)).json()
        path = app.state.element.backend.root / big["storage_path"]
        path.write_bytes(body[: len(body) - 4096 * 1024])
        with pytest.raises(Exception, match="короче"):
            await c.get(f"/api/v1/files/{big['file_id']}/content", headers=admin)
        r = await c.get(f"/api/v1/files/{big['file_id']}/content", headers=admin)
        assert r.status_code == 409 and r.json()["code"] == "file_corrupted"
