"""Восстановление по WAL при старте: доводит операции с файлами на местах, откатывает остальные."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
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


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """chattr +i: unlink такого файла даёт PermissionError даже root (иначе права не ограничить)."""
    done: list[Path] = []
    try:
        for p in paths:
            if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(p)],
                                                            capture_output=True).returncode != 0:
                pytest.skip("chattr +i недоступен (нужны ext4 и CAP_LINUX_IMMUTABLE)")
            done.append(p)
        yield
    finally:
        for p in done:
            subprocess.run(["chattr", "-i", str(p)], check=False)


def _line(**rec: object) -> bytes:
    return json.dumps(rec, ensure_ascii=False).encode() + b"\n"


async def test_poisoned_wal_is_quarantined_and_element_starts(make_settings, admin, tmp_path) -> None:
    """Одна плохая запись WAL не мешает старту: ключ длиннее 255 байт (File name too long), файл, который
    нельзя удалить (PermissionError), битая строка — в карантин; остальные операции разобраны, элемент служит."""
    settings = make_settings()
    data_dir = tmp_path / "data"
    async with running(settings) as (app, c):
        el = app.state.element
        keep = (await put(c, admin, b"old file")).json()
        done = (await put(c, admin, b"complete me")).json()
        doomed = (await put(c, admin, b"delete me")).json()
        async with el.engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {el.settings.files_table} WHERE file_id = :f"),
                               {"f": done["file_id"]})
    long_key = "2026/01/02/03/" + "я" * 150 + ".bin"  # 300 байт: так ключи резались раньше
    stuck_key = "2026/01/02/03/stuck_ivanov_20260102T030000_" + uuid.uuid4().hex + ".bin"
    (data_dir / stuck_key).parent.mkdir(parents=True, exist_ok=True)
    (data_dir / stuck_key).write_bytes(b"half written")  # данные без attr.json: откат их удалит... если сможет
    stuck_tmp = data_dir / ".tmp" / "stuck.data"
    stuck_tmp.write_bytes(b"in flight")
    (data_dir / ".wal" / "wal-00000099.log").write_bytes(
        _line(phase="intent", op_id="op-long", op="put", file_id="long", key=long_key)
        + _line(phase="intent", op_id="op-stuck", op="put", file_id="stuck", key=stuck_key)
        + b"\xff\x00garbage\n"
        + _line(phase="intent", op_id="op-del", op="delete", file_id=doomed["file_id"], key=doomed["storage_path"])
        + _line(phase="intent", op_id="op-done", op="put", file_id=done["file_id"], key=done["storage_path"])
    )
    with immutable(data_dir / stuck_key, data_dir / attr_key(doomed["storage_path"]), stuck_tmp):
        async with running(settings) as (app, c):
            assert (await c.get("/health/ready")).status_code == 200
            for f, body in ((keep, b"old file"), (done, b"complete me")):
                r = await c.get(f"/api/v1/files/{f['file_id']}/content", headers=admin)
                assert r.status_code == 200 and r.content == body
            fresh = await put(c, admin, b"new after start")
            assert fresh.status_code == 201, fresh.text
            metrics = (await c.get("/metrics")).text
            assert 'artstore_wal_recoveries_total{action="quarantined"} 4.0' in metrics
            assert 'artstore_wal_recoveries_total{action="completed"} 1.0' in metrics
            docs = [json.loads(p.read_bytes()) for p in (data_dir / ".wal" / "quarantine").glob("*.json")]
            by_op = {d["record"]["op_id"]: d for d in docs if "record" in d}
            assert set(by_op) == {"op-long", "op-stuck", "op-del"}
            assert "File name too long" in by_op["op-long"]["error"]
            assert by_op["op-long"]["record"]["key"] == long_key
            assert "PermissionError" in by_op["op-stuck"]["error"]
            assert "PermissionError" in by_op["op-del"]["error"]
            assert [d["raw"] for d in docs if "raw" in d] == ["\\xff\x00garbage"]
            assert not (data_dir / ".wal" / "wal-00000099.log").exists()  # разобранный сегмент убран
