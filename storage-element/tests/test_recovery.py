"""Восстановление по WAL при старте: доводит операции с файлами на местах, откатывает остальные."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from storage_element.layout import attr_key
from storage_element.wal import Wal

from .conftest import put, running


async def _write_raw(el, key: str, data: bytes) -> None:
    if el.backend.kind == "local":
        path = el.backend.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    else:
        await el.backend.client.put_object(Bucket=el.backend.bucket, Key=key, Body=data)


async def test_recovery_completes_and_rolls_back(make_settings, backend_kind, admin, tmp_path) -> None:
    settings = make_settings(storage_type=backend_kind)
    half_key = "2026/01/02/03/half_ivanov_20260102T030000_" + uuid.uuid4().hex + ".bin"
    async with running(settings) as (app, c):
        el = app.state.element
        done = (await put(c, admin, b"complete me")).json()
        # сбой после переименований, до строки кэша: строки нет
        async with el.engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {el.settings.files_table} WHERE file_id = :f"),
                               {"f": done["file_id"]})
        # сбой после переименования данных, до attr.json: данные без пары
        await _write_raw(el, half_key, b"partial")
    wal = Wal(tmp_path / "data" / ".wal")
    wal._open_segment(99)
    wal.intent("op-done", "put", file_id=done["file_id"], key=done["storage_path"])
    wal.intent("op-half", "put", file_id="half", key=half_key)
    wal.intent("op-evil", "put", file_id="evil", key="../../etc/passwd")
    wal.close()
    tmp_left = tmp_path / "data" / ".tmp" / "deadbeef.data"
    tmp_left.parent.mkdir(exist_ok=True)
    tmp_left.write_bytes(b"in flight")
    async with running(settings) as (app, c):
        el = app.state.element
        r = await c.get(f"/api/v1/files/{done['file_id']}/content", headers=admin)
        assert r.status_code == 200 and r.content == b"complete me"
        assert await el.backend.data_size(half_key) is None
        assert await el.backend.read_attr(half_key) is None
        assert not tmp_left.exists()
        assert wal.read_open_ops() == []
        metrics = (await c.get("/metrics")).text
        assert 'artstore_wal_recoveries_total{action="completed"} 1.0' in metrics
        assert 'artstore_wal_recoveries_total{action="rolled_back"} 1.0' in metrics
        rep = (await c.get("/api/v1/cache/consistency", headers=admin)).json()
        assert rep["orphan_data"] == [] and rep["orphan_attr"] == [] and rep["stale_rows"] == []


async def test_recovery_finishes_delete(make_settings, admin, tmp_path) -> None:
    settings = make_settings()
    async with running(settings) as (_, c):
        f = (await put(c, admin, b"to delete")).json()
    # сбой посреди удаления: attr.json уже удалён, данные и строка ещё есть
    (tmp_path / "data" / attr_key(f["storage_path"])).unlink()
    wal = Wal(tmp_path / "data" / ".wal")
    wal._open_segment(99)
    wal.intent("op-del", "delete", file_id=f["file_id"], key=f["storage_path"])
    wal.close()
    async with running(settings) as (_, c):
        assert (await c.get(f"/api/v1/files/{f['file_id']}", headers=admin)).status_code == 404
        assert not (tmp_path / "data" / f["storage_path"]).exists()
