"""Поиск по кэшу: морфология русского и английского, частичное и точное имя, фильтры, подсказки."""

from __future__ import annotations

import pytest

from .conftest import put, running


@pytest.fixture
async def filled(make_settings, admin):
    async with running(make_settings()) as (_app, c):
        files = [
            ("Квартальные отчеты 2026.pdf", ["финансы", "отчётность"], "ivanov", "application/pdf", 100),
            ("Договор поставки.docx", ["договор"], "petrov", "application/msword", 2000),
            ("annual reports summary.txt", ["finance"], "smith", "text/plain", 30),
            ("photo_2026_01.jpg", ["фото"], "ivanov", "image/jpeg", 5000),
        ]
        ids = {}
        for name, tags, user, ctype, size in files:
            r = await put(c, admin, b"x" * size, original_filename=name, tags=tags, created_by_username=user,
                          content_type=ctype, description=f"описание {name}", metadata={"проект": "Альфа"})
            assert r.status_code == 201, r.text
            ids[name] = r.json()["file_id"]
        yield c, ids


async def _search(c, headers, **body):
    r = await c.post("/api/v1/search", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_fulltext_morphology(filled, admin) -> None:
    c, _ids = filled
    res = await _search(c, admin, query="отчёты")
    names = [x["original_filename"] for x in res["results"]]
    assert names[0] == "Квартальные отчеты 2026.pdf" and res["results"][0]["rank"] > 0
    res = await _search(c, admin, query="report")
    assert [x["original_filename"] for x in res["results"]] == ["annual reports summary.txt"]
    res = await _search(c, admin, query="договоры")
    assert res["total_count"] == 1
    res = await _search(c, admin, query="альфа")  # из metadata
    assert res["total_count"] == 4


async def test_partial_exact_filters_sort(filled, admin) -> None:
    c, _ids = filled
    assert (await _search(c, admin, query="поставк", mode="partial"))["total_count"] == 1
    assert (await _search(c, admin, query="Договор поставки.docx", mode="exact"))["total_count"] == 1
    assert (await _search(c, admin, query="Договор", mode="exact"))["total_count"] == 0
    assert (await _search(c, admin, filename="PHOTO", mode="partial"))["total_count"] == 1
    assert (await _search(c, admin, tags=["финансы", "отчётность"]))["total_count"] == 1
    assert (await _search(c, admin, tags=["финансы", "договор"]))["total_count"] == 0
    assert (await _search(c, admin, username="ivanov"))["total_count"] == 2
    assert (await _search(c, admin, content_type="text/plain"))["total_count"] == 1
    assert (await _search(c, admin, min_size=1000, max_size=3000))["total_count"] == 1
    res = await _search(c, admin, sort_by="file_size", sort_order="asc", limit=2)
    assert [x["file_size"] for x in res["results"]] == [30, 100] and res["total_count"] == 4
    assert (await _search(c, admin, created_after="2000-01-01T00:00:00Z", created_before="2100-01-01T00:00:00Z"
                          ))["total_count"] == 4
    # спецсимволы LIKE не ломают запрос и не совпадают со всем подряд
    assert (await _search(c, admin, query="%_", mode="partial"))["total_count"] == 0
    assert (await _search(c, admin, query='"незакрытая кавычка OR -', mode="fulltext"))["total_count"] == 0
    r = await c.post("/api/v1/search", json={"limit": 0}, headers=admin)
    assert r.status_code == 422


async def test_suggest(filled, admin, token_factory) -> None:
    c, _ = filled
    r = await c.get("/api/v1/search/suggest", params={"prefix": "дог"}, headers=token_factory.headers("READONLY"))
    got = r.json()["suggestions"]
    assert any(s["kind"] == "filename" and s["text"] == "Договор поставки.docx" for s in got)
    assert any(s["kind"] == "tag" and s["text"] == "договор" for s in got)
    got = (await c.get("/api/v1/search/suggest", params={"prefix": "фин"}, headers=admin)).json()["suggestions"]
    assert [s["text"] for s in got if s["kind"] == "tag"] == ["финансы"]
    assert (await c.get("/api/v1/search/suggest", params={"prefix": ""}, headers=admin)).status_code == 422


async def test_ranked_count_capped_by_candidates(filled, admin, monkeypatch) -> None:
    # число совпадений ранжированного поиска берётся окном по кандидатам: потолок — признак «не меньше»
    from storage_element import search as search_mod

    c, _ids = filled
    monkeypatch.setattr(search_mod, "RANK_CANDIDATES", 2)
    res = await _search(c, admin, query="альфа", limit=1)
    assert len(res["results"]) == 1 and res["total_count"] == 2 and res["total_is_lower_bound"] is True
    # окно глубже потолка расширяет кандидатов: пустая страница, но число совпадений точное
    res = await _search(c, admin, query="альфа", limit=1, offset=5)
    assert res["results"] == [] and res["total_count"] == 4 and res["total_is_lower_bound"] is False
    monkeypatch.setattr(search_mod, "RANK_CANDIDATES", 10)
    res = await _search(c, admin, query="альфа", limit=2)
    assert res["total_count"] == 4 and res["total_is_lower_bound"] is False
    assert all(x["rank"] > 0 for x in res["results"])


async def test_unranked_page_is_exact_whether_matches_fit_the_cap_or_not(filled, admin, monkeypatch) -> None:
    # все совпадения в потолке — страница и число из одного прохода; больше потолка — страница всё равно
    # точная (у фильтров — отдельный упорядоченный запрос, у полнотекстового — упорядоченный проход по
    # ключам до конца страницы), число — потолок с признаком «не меньше»
    from storage_element import search as search_mod

    c, _ids = filled
    for cap, total, lower in ((10, 4, False), (2, 2, True)):
        monkeypatch.setattr(search_mod, "COUNT_CAP", cap)
        res = await _search(c, admin, sort_by="file_size", sort_order="asc", limit=2)
        assert [x["file_size"] for x in res["results"]] == [30, 100]
        assert res["total_count"] == total and res["total_is_lower_bound"] is lower
        res = await _search(c, admin, sort_by="file_size", sort_order="desc", limit=2, offset=1)
        assert [x["file_size"] for x in res["results"]] == [2000, 100]
        res = await _search(c, admin, sort_by="name", limit=2, offset=7)
        assert res["results"] == [] and res["total_count"] == total
        # страница целиком за потолком (при потолке 2 — третья и четвёртая строки): и по фильтрам, и по
        # полнотекстовому запросу (у него проход по ключам упорядочен и доходит до конца страницы)
        # запрос в кавычках идёт отдельной веткой (фраза: части tsquery по конфигурациям через OR, проход
        # по ключам без ORDER BY и упорядоченный запрос за потолком)
        for query in ({}, {"query": "альфа"}, {"query": '"описание"'}):
            res = await _search(c, admin, sort_by="file_size", sort_order="asc", limit=2, offset=2, **query)
            assert [x["file_size"] for x in res["results"]] == [2000, 5000], query
            assert res["total_count"] == total and res["total_is_lower_bound"] is lower
        # полнотекстовый запрос с сортировкой не по релевантности: ранг у строк страницы есть
        res = await _search(c, admin, query="альфа", sort_by="file_size", limit=3)
        assert [x["file_size"] for x in res["results"]] == [5000, 2000, 100]
        assert all(x["rank"] > 0 for x in res["results"])
        res = await _search(c, admin, query='"квартальные отчёты"', sort_by="created_at")
        assert [x["file_size"] for x in res["results"]] == [100] and res["results"][0]["rank"] > 0
        assert (await _search(c, admin, query='"отчёты квартальные"'))["total_count"] == 0  # порядок слов важен
        # и с фильтрами: их параметры не мешают выборке страницы по ключам
        res = await _search(c, admin, query="альфа", min_size=50, username="ivanov", sort_by="file_size", limit=3)
        assert [x["file_size"] for x in res["results"]] == [5000, 100]


async def test_tag_suggestions_follow_uploads_deletes_and_rebuild(make_settings, admin) -> None:
    # словарь тегов ведут триггеры: тег виден, пока есть хоть один файл с ним; пересборка кэша его пересчитывает
    from sqlalchemy import text

    async def tags(c, prefix: str) -> list[str]:
        r = await c.get("/api/v1/search/suggest", params={"prefix": prefix}, headers=admin)
        assert r.status_code == 200, r.text
        return [s["text"] for s in r.json()["suggestions"] if s["kind"] == "tag"]

    async with running(make_settings()) as (app, c):
        a = (await put(c, admin, b"a", tags=["Уникальный", "общий"])).json()
        b = (await put(c, admin, b"b", tags=["уникальный-2", "общий"])).json()
        assert await tags(c, "уник") == ["Уникальный", "уникальный-2"]  # регистр префикса не важен
        assert (await c.delete(f"/api/v1/files/{a['file_id']}", headers=admin)).status_code == 204
        assert await tags(c, "уник") == ["уникальный-2"]
        assert await tags(c, "общ") == ["общий"]  # второй файл с тегом ещё есть
        el = app.state.element
        async with el.engine.begin() as conn:
            n = (await conn.execute(text(f"SELECT files FROM {el.settings.files_table}_tag_dict "
                                         "WHERE tag = 'общий'"))).scalar()
            assert n == 1
            table = el.settings.files_table
            # правка тегов строки (так их меняет инкрементальная пересборка) — словарь следует за ней
            await conn.execute(text(f"UPDATE {table} SET tags = ARRAY['общий', 'новый'] WHERE file_id = :f"),
                               {"f": b["file_id"]})
            # массовая вставка одним оператором (как пересборка) — одна агрегированная правка словаря
            await conn.execute(text(
                f"INSERT INTO {table} (file_id, original_filename, storage_filename, storage_path, file_size, "
                "stored_size, checksum, created_at, tags) SELECT 'bulk-' || g, 'x', 'x', 'x', 1, 1, 'x', now(), "
                "ARRAY['массовый', 'общий'] FROM generate_series(1, 5000) g"))
            counts = dict((await conn.execute(text(f"SELECT tag, files FROM {table}_tag_dict"))).all())
            assert counts == {"общий": 5001, "новый": 1, "массовый": 5000}
            await conn.execute(text(f"DELETE FROM {table} WHERE file_id LIKE 'bulk-%'"))
            await conn.execute(text(f"UPDATE {table} SET tags = ARRAY['уникальный-2', 'общий'] WHERE file_id = :f"),
                               {"f": b["file_id"]})
            counts = dict((await conn.execute(text(f"SELECT tag, files FROM {table}_tag_dict"))).all())
            assert counts == {"общий": 1, "уникальный-2": 1}
            await conn.execute(text(f"DROP TABLE {el.settings.files_table}"))
        assert (await c.post("/api/v1/cache/rebuild?mode=full", headers=admin)).status_code == 200
        assert await tags(c, "уник") == ["уникальный-2"]
        assert (await c.delete(f"/api/v1/files/{b['file_id']}", headers=admin)).status_code == 204
        assert await tags(c, "уник") == [] and await tags(c, "общ") == []


async def test_suggest_ignores_yo_both_ways(make_settings, admin) -> None:
    # поиск к ё безразличен — подсказки тоже: и у хранимого имени/тега, и у префикса
    async def texts(c, prefix: str) -> set[tuple[str, str]]:
        r = await c.get("/api/v1/search/suggest", params={"prefix": prefix}, headers=admin)
        assert r.status_code == 200, r.text
        return {(s["kind"], s["text"]) for s in r.json()["suggestions"]}

    async with running(make_settings()) as (_app, c):
        assert (await put(c, admin, b"a", original_filename="Отчёт за май.pdf", tags=["Ёлка"])).status_code == 201
        assert (await put(c, admin, b"b", original_filename="отчет за июнь.pdf", tags=["елочный"])).status_code == 201
        both = {("filename", "Отчёт за май.pdf"), ("filename", "отчет за июнь.pdf")}
        assert await texts(c, "отче") == both
        assert await texts(c, "ОТЧЁ") == both
        assert await texts(c, "отчёт за м") == {("filename", "Отчёт за май.pdf")}
        assert await texts(c, "ёл") == {("tag", "Ёлка"), ("tag", "елочный")}
        assert await texts(c, "Ел") == {("tag", "Ёлка"), ("tag", "елочный")}


async def test_suggest_indexes_are_upgraded_on_existing_table(make_settings, admin) -> None:
    # таблица прежней версии (индексы подсказок по lower() без свёртки ё) получает новые индексы при
    # старте элемента, и запрос подсказок идёт по ним
    from sqlalchemy import text

    settings = make_settings()
    table = settings.files_table
    async with running(settings) as (app, c):
        assert (await put(c, admin, b"a", original_filename="Отчёт.pdf", tags=["Ёж"])).status_code == 201
        async with app.state.element.engine.begin() as conn:
            await conn.execute(text(f"DROP INDEX {table}_name_fold"))
            await conn.execute(text(f"DROP INDEX {table}_tag_dict_fold"))
            await conn.execute(text(
                f'CREATE INDEX {table}_name_prefix ON {table} ((lower(original_filename) COLLATE "C"))'))
            await conn.execute(text(
                f'CREATE INDEX {table}_tag_dict_prefix ON {table}_tag_dict ((lower(tag) COLLATE "C"))'))
    async with running(settings) as (app, c):
        async with app.state.element.engine.begin() as conn:
            names = set((await conn.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename IN (:t, :d)"),
                {"t": table, "d": f"{table}_tag_dict"})).scalars())
            assert {f"{table}_name_fold", f"{table}_tag_dict_fold"} <= names
            assert not {f"{table}_name_prefix", f"{table}_tag_dict_prefix"} & names
        r = await c.get("/api/v1/search/suggest", params={"prefix": "отче"}, headers=admin)
        assert [s["text"] for s in r.json()["suggestions"]] == ["Отчёт.pdf"]
        r = await c.get("/api/v1/search/suggest", params={"prefix": "еж"}, headers=admin)
        assert [s["text"] for s in r.json()["suggestions"]] == ["Ёж"]


async def test_suggest_prefix_goes_through_the_folded_index(make_settings, admin) -> None:
    # индекс по выражению используется, только если запрос повторяет выражение буквально: план того самого
    # запроса, что выполнила подсказка
    from sqlalchemy import event, text

    settings = make_settings()
    async with running(settings) as (app, c):
        engine = app.state.element.engine
        seen: list[tuple[str, object]] = []

        def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
            if "original_filename AS t" in statement:
                seen.append((statement, parameters))

        event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            r = await c.get("/api/v1/search/suggest", params={"prefix": "отче"}, headers=admin)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
        assert r.status_code == 200 and len(seen) == 1
        statement, parameters = seen[0]
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(row[0] for row in await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters))
        assert f"{settings.files_table}_name_fold" in plan, plan
