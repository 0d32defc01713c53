"""Поиск через query по нескольким элементам: слияние, фильтры, страницы, неполные ответы."""

from __future__ import annotations

from query_fleet import Fleet


def _fleet_with_docs(fleet: Fleet, **query_settings: object) -> dict[str, str]:
    fleet.add_element("se-a", "edit")
    fleet.add_element("se-b", "rw")
    fleet.publish()
    fleet.start_query(**query_settings)
    ids = {
        "ru1": fleet.put("se-a", "Отчет_квартальный.pdf", b"a" * 100, tags=["финансы", "квартал"],
                         description="Квартальный отчет о продажах"),
        "ru2": fleet.put("se-b", "Договор поставки.docx", b"b" * 300, tags=["договоры"],
                         description="Договор поставки оборудования", username="petrov"),
        "en1": fleet.put("se-a", "annual_report.txt", b"c" * 200, tags=["finance"],
                         description="Annual financial report for shareholders"),
        "en2": fleet.put("se-b", "meeting notes.txt", b"d" * 50, tags=["meetings"],
                         description="Notes from the board meeting"),
    }
    return ids


def _search(fleet: Fleet, **body: object) -> dict:
    r = fleet.q("POST", "/api/v1/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _ids(resp: dict) -> set[str]:
    return {row["file_id"] for row in resp["results"]}


def test_search_merges_elements_and_pages(fleet: Fleet) -> None:
    ids = _fleet_with_docs(fleet)
    everything = _search(fleet, limit=100, sort_by="file_size", sort_order="asc")
    assert everything["partial"] is False and everything["unavailable_storage_elements"] == []
    assert everything["total_count"] == 4
    assert [r["file_size"] for r in everything["results"]] == [50, 100, 200, 300]
    assert {r["storage_element_id"] for r in everything["results"]} == {"se-a", "se-b"}
    assert all("rank" in r for r in everything["results"])

    pages = [_search(fleet, limit=1, offset=i, sort_by="file_size", sort_order="desc") for i in range(4)]
    assert [p["results"][0]["file_size"] for p in pages] == [300, 200, 100, 50]
    assert [p["has_more"] for p in pages] == [True, True, True, False]
    assert pages[0]["limit"] == 1 and pages[2]["offset"] == 2

    by_name = _search(fleet, limit=10, sort_by="name", sort_order="asc")
    names = [r["original_filename"] for r in by_name["results"]]
    assert names == sorted(names, key=str.casefold)
    assert ids["ru1"] in _ids(by_name)


def test_deep_window_is_fetched_in_element_pages(fleet: Fleet) -> None:
    _fleet_with_docs(fleet, element_page_limit=1)
    page = _search(fleet, limit=2, offset=1, sort_by="file_size", sort_order="asc")
    assert [r["file_size"] for r in page["results"]] == [100, 200]
    assert page["total_count"] == 4 and page["has_more"] is True


def test_morphology_tags_partial_phrase_exclusion(fleet: Fleet) -> None:
    ids = _fleet_with_docs(fleet)
    assert ids["ru1"] in _ids(_search(fleet, query="отчёты"))
    assert ids["en1"] in _ids(_search(fleet, query="reports"))
    assert _ids(_search(fleet, query="договоров")) == {ids["ru2"]}
    assert _ids(_search(fleet, tags=["finance"])) == {ids["en1"]}
    assert _ids(_search(fleet, filename="квартал", mode="partial")) == {ids["ru1"]}
    assert ids["en2"] in _ids(_search(fleet, query='"board meeting"'))
    assert ids["en1"] not in _ids(_search(fleet, query='"report shareholders board"'))
    excl = _ids(_search(fleet, query="report -annual"))
    assert ids["en1"] not in excl
    assert _ids(_search(fleet, username="petrov")) == {ids["ru2"]}


def test_get_search_and_suggest(fleet: Fleet) -> None:
    ids = _fleet_with_docs(fleet)
    r = fleet.q("GET", "/api/v1/search", params={"q": "Договор", "limit": 5})
    assert r.status_code == 200, r.text
    assert ids["ru2"] in _ids(r.json())

    r = fleet.q("GET", "/api/v1/search/suggest", params={"prefix": "Дог", "limit": 5})
    assert r.status_code == 200, r.text
    texts = [s["text"] for s in r.json()["suggestions"]]
    assert any(t.startswith("Договор") for t in texts), texts
    assert all(s["kind"] in ("filename", "tag") for s in r.json()["suggestions"])


def test_validation_and_roles(fleet: Fleet) -> None:
    _fleet_with_docs(fleet)
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"mode": "fuzzy"}, {"sort_by": "color"},
                {"min_size": 10, "max_size": 5}, {"unknown_field": 1}, {"offset": 10_000, "limit": 10}):
        r = fleet.q("POST", "/api/v1/search", json=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "validation_error"
    assert fleet.q("GET", "/api/v1/search", params={"limit": "x"}).status_code == 422
    assert fleet.q("GET", "/api/v1/search", params={"sort_order": "up"}).status_code == 422
    r = fleet.http.post(f"{fleet.query.url}/api/v1/search", json={})
    assert r.status_code == 401
    for role in ("ADMIN", "USER", "AUDITOR", "READONLY"):
        assert fleet.q("POST", "/api/v1/search/", role=role, json={}).status_code == 200


def test_stopped_element_gives_partial(fleet: Fleet) -> None:
    ids = _fleet_with_docs(fleet)
    fleet.elements["se-b"].stop()
    resp = _search(fleet, limit=50)
    assert resp["partial"] is True
    assert resp["unavailable_storage_elements"] == ["se-b"]
    assert _ids(resp) == {ids["ru1"], ids["en1"]}
    for _ in range(5):  # порог предохранителя
        _search(fleet)
    metrics = fleet.http.get(f"{fleet.query.url}/metrics").text
    assert 'artstore_circuit_breaker_open{storage_element="se-b"} 1.0' in metrics
    assert 'artstore_circuit_breaker_open{storage_element="se-a"} 0.0' in metrics
    assert _search(fleet)["unavailable_storage_elements"] == ["se-b"]
    # элемент, который admin пометил offline, не опрашивается, но честно назван
    fleet.publish(**{"se-b": {"status": "offline"}})
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        sugg = fleet.q("GET", "/api/v1/search/suggest", params={"prefix": "ann"}).json()
        if sugg["unavailable_storage_elements"] == ["se-b"]:
            break
        time.sleep(0.05)
    assert sugg["partial"] is True and sugg["unavailable_storage_elements"] == ["se-b"]
    # файл с недоступного элемента: 503 с его именем, а не ложный 404
    r = fleet.q("GET", f"/api/v1/files/{ids['ru2']}")
    assert r.status_code == 503, r.text
    assert r.json()["unavailable_storage_elements"] == ["se-b"]


def test_rejected_service_token_is_renewed(fleet: Fleet) -> None:
    fleet.add_element("se-a", "edit")
    fleet.publish()
    file_id = fleet.put("se-a", "токен.txt", b"token")
    fleet.tokens.bad = 1  # первый сервисный токен query элемент отвергнет (401)
    fleet.start_query()
    resp = _search(fleet)
    assert resp["partial"] is False and file_id in _ids(resp)
    fleet.tokens.bad = 1
    fleet.query_app.state.elements.client.tokens.invalidate()
    assert fleet.q("GET", f"/api/v1/files/{file_id}/download").content == b"token"
    # адрес уже в кэше: отвергнутый токен встречает сам поток скачивания
    fleet.tokens.bad = 1
    fleet.query_app.state.elements.client.tokens.invalidate()
    assert fleet.q("GET", f"/api/v1/files/{file_id}/download").content == b"token"
    assert fleet.tokens.bad == 0


def test_hung_element_times_out_into_partial(fleet: Fleet) -> None:
    import socket

    # принимает соединения (ядро завершает рукопожатие), но никогда не отвечает
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)
    try:
        fleet.add_element("se-a", "edit")
        file_id = fleet.put("se-a", "быстрый.txt", b"fast")
        fleet.publish(extra=[{"id": "se-hung", "api_url": f"http://127.0.0.1:{hung.getsockname()[1]}",
                              "mode": "ro", "status": "online"}])
        fleet.start_query(element_timeout=0.3)
        resp = _search(fleet)
        assert resp["partial"] is True and resp["unavailable_storage_elements"] == ["se-hung"]
        assert file_id in _ids(resp)
        sugg = fleet.q("GET", "/api/v1/search/suggest", params={"prefix": "быст"}).json()
        assert sugg["unavailable_storage_elements"] == ["se-hung"]
        assert [s["text"] for s in sugg["suggestions"]] == ["быстрый.txt"]
        # первым отвечает элемент, где файл есть: зависший не задерживает скачивание
        assert fleet.q("GET", f"/api/v1/files/{file_id}/download").content == b"fast"
    finally:
        hung.close()
