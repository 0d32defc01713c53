"""Недоверенный ввод: подложенный attr.json не задаёт путь чтения, значения, которые нельзя сохранить
в кэше, отвергаются до записи, id с переводом строки и невидимые символы в именах не проходят."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from artstore_common import valid_file_id
from storage_element.layout import clean_component

from .conftest import put, running


async def test_tampered_attr_json_cannot_point_outside_root(make_settings, admin, token_factory) -> None:
    settings = make_settings()
    data = b"real content of the archived file"
    async with running(settings) as (_, c):
        r = await put(c, admin, data, file_id="victim-1")
        assert r.status_code == 201, r.text
        key = r.json()["storage_path"]
        attr_path = Path(settings.data_dir) / (key + ".attr.json")
        attr = json.loads(attr_path.read_text())
        attr["storage_path"] = "/etc/passwd"
        attr_path.write_text(json.dumps(attr, ensure_ascii=False))
        r = await c.post("/api/v1/cache/rebuild", params={"mode": "full"}, headers=admin)
        assert r.status_code == 200, r.text
        reader = token_factory.headers("READONLY")
        meta = (await c.get("/api/v1/files/victim-1", headers=reader)).json()
        assert meta["storage_path"] == key  # путь — где файл найден, а не что написано внутри
        body = await c.get("/api/v1/files/victim-1/content", headers=reader)
        assert body.content == data and b"root:" not in body.content


@pytest.mark.parametrize(
    "meta",
    [
        {"metadata": {"x": math.nan}},
        {"metadata": {"x": math.inf}},
        {"metadata": {"k": "a\x00b"}},
        {"description": "nul\x00here"},
        {"tags": ["ok", "bad\x00tag"]},
        {"original_filename": "a\x00.txt"},
    ],
)
async def test_unstorable_values_rejected_before_anything_is_written(make_settings, admin, meta) -> None:
    settings = make_settings()
    async with running(settings) as (_, c):
        r = await put(c, admin, b"payload", **meta)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "invalid_meta"
        stored = [p for p in Path(settings.data_dir).rglob("*") if p.is_file() and p.parts[-5:-4]
                  and p.relative_to(settings.data_dir).parts[0].isdigit()]
        assert stored == []


def test_file_id_with_trailing_newline_is_invalid() -> None:
    assert valid_file_id("abc")
    assert not valid_file_id("abc\n")
    assert not valid_file_id("../x")


def test_format_characters_are_stripped_from_names() -> None:
    assert clean_component("invoice\u202egpj.exe", "f") == "invoicegpj.exe"


async def test_cache_failure_after_publish_leaves_no_file(make_settings, admin) -> None:
    """Строка кэша не записалась уже после переименований — 201 нет, и пары data+attr.json тоже нет."""
    import httpx

    from storage_element.app import create_app

    settings = make_settings()
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://se") as c:
        el = app.state.element

        async def broken_upsert(*args: object, **kwargs: object) -> None:
            raise ConnectionError("PostgreSQL пропал посреди записи")  # внедрённый сбой, не подделка данных

        el.cache.upsert = broken_upsert
        r = await put(c, admin, b"will not be acknowledged", file_id="lost-1")
        assert r.status_code >= 500
        assert r.headers["content-type"] == "application/problem+json"
        stored = [p for p in Path(settings.data_dir).rglob("*") if p.is_file()
                  and p.relative_to(settings.data_dir).parts[0].isdigit()]
        assert stored == []


async def test_search_size_beyond_bigint_is_422(make_settings, token_factory) -> None:
    async with running(make_settings()) as (_, c):
        r = await c.post("/api/v1/search", json={"min_size": 2**70}, headers=token_factory.headers("READONLY"))
        assert r.status_code == 422 and r.json()["code"] == "validation_error"
