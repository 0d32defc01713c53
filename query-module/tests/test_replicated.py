"""Чтение с реплицированного элемента через query (docs/replication.md §4): члены — настоящие storage-element
на своих сокетах. Член без файла, с испорченной копией или остановленный незаметен клиенту; поиск не
возвращает файл дважды; пропавшая или испорченная копия чинится самим членом."""

from __future__ import annotations

import os
import time

import httpx
from query_fleet import Fleet

DATA = os.urandom(300_000)


def _member_attr(fleet: Fleet, member: str, file_id: str) -> httpx.Response:
    return fleet.http.get(f"{fleet.elements[member].url}/api/v1/files/{file_id}", headers=fleet.admin_headers)


def _flip_byte(fleet: Fleet, member: str, file_id: str, at: int) -> None:
    attr = _member_attr(fleet, member, file_id).json()
    el = fleet.elements[member]
    assert el.data_dir is not None
    path = el.data_dir / attr["storage_path"]
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


def _reads_are_right(fleet: Fleet, file_id: str, rounds: int = 6) -> None:
    """Каждый круг — метаданные, весь файл и диапазоны; по кругу запросы попадают на разных членов."""
    for _ in range(rounds):
        meta = fleet.q("GET", f"/api/v1/files/{file_id}")
        assert meta.status_code == 200, meta.text
        assert meta.json()["storage_element_id"] == "se-r1" and meta.json()["corrupted"] is False
        whole = fleet.q("GET", f"/api/v1/files/{file_id}/download")
        assert whole.status_code == 200 and whole.content == DATA, whole.text[:300]
        for rng, part in (("bytes=1000-1999", DATA[1000:2000]), ("bytes=-10", DATA[-10:])):
            r = fleet.q("GET", f"/api/v1/files/{file_id}/download", headers={"Range": rng})
            assert r.status_code == 206 and r.content == part, (rng, r.text[:300])


def _wait(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("условие не выполнилось за отведённое время")
        time.sleep(0.1)


def test_reads_fail_over_from_member_without_the_file(fleet: Fleet) -> None:
    fleet.add_replicated("se-r1", "edit", 3)
    fleet.publish()
    fleet.start_query()
    file_id = fleet.put("se-r1", "отчёт.pdf", DATA, on=["se-r1-b", "se-r1-c"])  # у a копии нет
    assert _member_attr(fleet, "se-r1-a", file_id).status_code == 404
    _reads_are_right(fleet, file_id)
    assert fleet.q("GET", "/api/v1/files/nothing-here/download").status_code == 404


def test_corrupted_copy_is_skipped_whole_and_ranged(fleet: Fleet) -> None:
    """Один байт копии члена a испорчен: весь файл (элемент сверяет sha256 до отдачи — 409) отдаёт сосед,
    байты верные; член a чинит копию сам, и затем чтения (целиком и диапазоны) верны с любого члена."""
    fleet.add_replicated("se-r1", "edit", 3)
    fleet.publish()
    fleet.start_query()
    file_id = fleet.put("se-r1", "отчёт.pdf", DATA)
    _flip_byte(fleet, "se-r1-a", file_id, 1500)
    for _ in range(6):
        whole = fleet.q("GET", f"/api/v1/files/{file_id}/download")
        assert whole.status_code == 200 and whole.content == DATA, whole.text[:300]
    # член a, отказав в чтении испорченной копии (409), пометил её и сам починил с соседа (docs/replication.md §5):
    # скраб после этого находит копию целой
    a = fleet.elements["se-r1-a"].url

    def healed() -> bool:
        r = fleet.http.get(f"{a}/api/v1/files/{file_id}/content", headers=fleet.admin_headers)
        return r.status_code == 200 and r.content == DATA

    _wait(healed, 60)
    scrub = fleet.http.post(a + "/api/v1/scrub", headers=fleet.admin_headers, timeout=60)
    assert scrub.status_code == 200 and scrub.json()["corrupted"] == [] and scrub.json()["checked"] == 1, scrub.text
    _reads_are_right(fleet, file_id)


def test_majority_down_reads_from_the_survivor(fleet: Fleet) -> None:
    members = fleet.add_replicated("se-r1", "edit", 3)
    fleet.publish()
    fleet.start_query()
    file_id = fleet.put("se-r1", "отчёт.pdf", DATA)
    members[0].stop()  # снимок считает его в сети
    _reads_are_right(fleet, file_id, rounds=3)
    # один член молчит, двое сказали «нет» — при кворуме 2 это окончательно: 404, а не 503
    assert fleet.q("GET", "/api/v1/files/never-written/download").status_code == 404
    members[1].stop()
    _reads_are_right(fleet, file_id, rounds=3)
    # двое молчат: «нет» от одного не доказывает, что файла нет, — честный 503
    r = fleet.q("GET", "/api/v1/files/never-written/download")
    assert r.status_code == 503 and "se-r1" in r.text, r.text


def test_search_member_down_returns_each_file_once(fleet: Fleet) -> None:
    members = fleet.add_replicated("se-r1", "edit", 3)
    fleet.add_element("se-other", "edit")
    fleet.publish()
    fleet.start_query()
    mine = {fleet.put("se-r1", f"квартальный отчёт {i}.pdf", b"r%d" % i, tags=["отчёт"]) for i in range(5)}
    mine |= {fleet.put("se-other", f"квартальный отчёт x{i}.pdf", b"o%d" % i, tags=["отчёт"]) for i in range(2)}

    def search() -> dict:
        r = fleet.q("POST", "/api/v1/search", json={"query": "отчёт", "limit": 100})
        assert r.status_code == 200, r.text
        return r.json()

    for _ in range(3):
        body = search()
        ids = [row["file_id"] for row in body["results"]]
        assert sorted(ids) == sorted(mine) and body["total_count"] == 7 and not body["partial"], body
    members[0].stop()  # первый член — и api_url элемента в снимке: старый клиент потерял бы элемент целиком
    for _ in range(3):
        body = search()
        assert sorted(row["file_id"] for row in body["results"]) == sorted(mine) and not body["partial"], body
        assert {row["storage_element_id"] for row in body["results"]} == {"se-r1", "se-other"}
    suggest = fleet.q("GET", "/api/v1/search/suggest", params={"prefix": "квартал"})
    assert suggest.status_code == 200 and not suggest.json()["partial"], suggest.text


def test_search_returns_file_on_two_elements_once(fleet: Fleet) -> None:
    """Во время переноса копия файла есть на двух элементах: в выдаче она одна."""
    fleet.add_element("se-edit", "edit")
    fleet.add_element("se-rw", "rw")
    fleet.publish()
    fleet.start_query()
    file_id = fleet.put("se-edit", "договор.pdf", b"same bytes")
    fleet.put("se-rw", "договор.pdf", b"same bytes", file_id=file_id)
    r = fleet.q("POST", "/api/v1/search", json={"query": "договор"})
    assert r.status_code == 200 and [row["file_id"] for row in r.json()["results"]] == [file_id], r.text


def test_missing_and_corrupted_copies_are_repaired(fleet: Fleet) -> None:
    """Чтение заказало ремонт: копия, которой не было, появляется; испорченная (без скраба: диапазон у члена
    сам сверяет целостность) не отдаётся, а затем чинится — на диске снова верные байты."""
    fleet.add_replicated("se-r1", "edit", 3)
    fleet.publish()
    fleet.start_query()
    missing = fleet.put("se-r1", "нет у a.pdf", DATA, on=["se-r1-b", "se-r1-c"])
    _reads_are_right(fleet, missing, rounds=3)
    _wait(lambda: _member_attr(fleet, "se-r1-a", missing).status_code == 200)
    broken = fleet.put("se-r1", "испорчен у b.pdf", DATA)
    _flip_byte(fleet, "se-r1-b", broken, 1500)
    for _ in range(6):
        r = fleet.q("GET", f"/api/v1/files/{broken}/download", headers={"Range": "bytes=1000-1999"})
        assert r.status_code == 206 and r.content == DATA[1000:2000], r.text[:300]
    _reads_are_right(fleet, broken, rounds=3)

    def healed() -> bool:
        r = fleet.http.get(f"{fleet.elements['se-r1-b'].url}/api/v1/files/{broken}/content",
                           headers=fleet.admin_headers)
        return r.status_code == 200 and r.content == DATA

    _wait(healed, 60)
