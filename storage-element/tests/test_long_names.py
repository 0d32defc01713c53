"""Длинные имена: ФС ограничивает имя 255 байтами, а не символами (кириллица — 2 байта на букву).

Раньше имя резалось до 200 символов: загрузка с именем длиннее ~89 букв падала на переименовании
(`File name too long`), откат падал на том же имени и оставлял незакрытую запись WAL.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest

from .conftest import put, running

pytestmark = pytest.mark.usefixtures("backend_kind")

LONG = "Годовой отчёт о финансово-хозяйственной деятельности филиала «Северо-Западный» за 2026 год"


async def test_long_cyrillic_name_uploads_and_downloads(make_settings, backend_kind, admin, tmp_path) -> None:
    original = (LONG + " (редакция вторая, согласованная) ") * 2 + ".pdf"
    user = "Константин_Константинопольский" * 2
    assert len(original) > 150
    data = os.urandom(70_000)
    settings = make_settings(storage_type=backend_kind)
    async with running(settings) as (app, c):
        el = app.state.element
        r = await put(c, admin, data, original_filename=original, created_by_username=user)
        assert r.status_code == 201, r.text
        attr = r.json()
        assert attr["original_filename"] == original
        name = attr["storage_filename"]
        assert len((name + ".attr.json").encode()) <= 255
        assert name.startswith("Годовой отчёт") and name.endswith(".pdf")
        if backend_kind == "local":
            for _dirpath, _dirs, files in os.walk(tmp_path / "data"):
                for f in files:
                    assert len(f.encode()) <= 255, f
        stored = await el.backend.read_attr(attr["storage_path"])
        assert stored is not None and original in stored.decode()
        r = await c.get(f"/api/v1/files/{attr['file_id']}/content", headers=admin)
        assert r.status_code == 200 and r.content == data
        assert f"filename*=UTF-8''{quote(original, safe='')}" in r.headers["content-disposition"]
        assert (await c.get(f"/api/v1/files/{attr['file_id']}", headers=admin)).json()["original_filename"] == original
    # перезапуск: WAL не держит незакрытых операций, файл на месте
    async with running(settings) as (app, c):
        text = (await c.get("/metrics")).text  # ряды есть с запуска (нулевые): ни одна операция не разбиралась
        assert all(f'artstore_wal_recoveries_total{{action="{a}"}} 0.0' in text
                   for a in ("completed", "rolled_back", "quarantined"))
        r = await c.get(f"/api/v1/files/{attr['file_id']}/content", headers=admin)
        assert r.status_code == 200 and r.content == data
