"""Лимит частоты чтения через query: на учётную запись, по всем маршрутам чтения, 429 с Retry-After."""

from __future__ import annotations

import time

import pytest
from query_fleet import Fleet

from artstore_common import PROBLEM_CONTENT_TYPE, RateLimiter


@pytest.fixture(autouse=True)
def _not_at_window_edge() -> None:
    # окно минутное: тест, начатый в последние секунды окна, мерил бы два окна
    window = RateLimiter.WINDOW
    if window - time.time() % window < 5:
        time.sleep(window - time.time() % window + 0.1)


def test_reads_are_limited_per_account(fleet: Fleet) -> None:
    fleet.add_element("se-a", "edit")
    fleet.publish()
    file_id = fleet.put("se-a", "отчёт.txt", b"report " * 100, tags=["отчёт"])
    fleet.start_query(rate_limit_per_minute=5)
    # claim rate_limit — лимит загрузок ingester; на чтение через query он не влияет
    reader = {"headers": fleet.factory.headers("READONLY", sub="reader-a", rate_limit=1)}

    reads = [
        fleet.q("POST", "/api/v1/search", json={"query": "отчёт"}, **reader),
        fleet.q("GET", "/api/v1/search", params={"q": "отчёт"}, **reader),
        fleet.q("GET", "/api/v1/search/suggest", params={"prefix": "отч"}, **reader),
        fleet.q("GET", f"/api/v1/files/{file_id}", **reader),
        fleet.q("GET", f"/api/v1/files/{file_id}/download", **reader),
    ]
    assert [r.status_code for r in reads] == [200] * 5, [r.text for r in reads]

    for method, path in (("GET", f"/api/v1/files/{file_id}/download"), ("GET", f"/api/v1/files/{file_id}"),
                         ("POST", "/api/v1/search"), ("GET", "/api/v1/search/suggest?prefix=a")):
        r = fleet.q(method, path, json={} if method == "POST" else None, **reader)
        assert r.status_code == 429, (path, r.status_code, r.text)
        assert r.headers["content-type"].startswith(PROBLEM_CONTENT_TYPE)
        assert 1 <= int(r.headers["Retry-After"]) <= 61
        body = r.json()
        assert body["code"] == "rate_limited" and body["limit"] == 5 and "лимит" in body["detail"]

    # другая учётная запись — своё окно
    other = {"headers": fleet.factory.headers("READONLY", sub="reader-b")}
    r = fleet.q("GET", f"/api/v1/files/{file_id}/download", **other)
    assert r.status_code == 200 and r.content == b"report " * 100
    assert fleet.q("GET", f"/api/v1/files/{file_id}", **other).status_code == 200

    assert "artstore_rate_limited_total 4.0" in fleet.http.get(f"{fleet.query.url}/metrics").text
