"""Кэш местоположений: Redis-ключ общий с ingester, события сбрасывают кэш, неверный адрес лечится."""

from __future__ import annotations

import json
import time

from query_fleet import Fleet

from artstore_common import events_channel


def _wait(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "не дождались"
        time.sleep(0.02)


def _start(fleet: Fleet) -> None:
    fleet.add_element("se-a", "edit")
    fleet.add_element("se-b", "rw")
    fleet.publish()
    fleet.start_query()
    # подписка на события уже есть — иначе событие теста может прийти раньше неё
    _wait(lambda: fleet.redis.pubsub_numsub(events_channel(fleet.ns))[0][1] >= 1)


def _element_of(fleet: Fleet, file_id: str) -> str:
    r = fleet.q("GET", f"/api/v1/files/{file_id}")
    assert r.status_code == 200, r.text
    return str(r.json()["storage_element_id"])


def test_location_is_shared_through_redis(fleet: Fleet) -> None:
    _start(fleet)
    file_id = fleet.put("se-b", "a.txt", b"x")
    assert _element_of(fleet, file_id) == "se-b"
    raw = fleet.redis.get(f"{fleet.ns}:loc:{file_id}")
    assert raw is not None and json.loads(raw) == {"storage_element_id": "se-b"}

    # ключ, записанный ingester при загрузке, ведёт query сразу к нужному элементу
    other = fleet.put("se-a", "b.txt", b"y")
    fleet.redis.set(f"{fleet.ns}:loc:{other}", json.dumps({"storage_element_id": "se-a"}))
    assert fleet.q("GET", f"/api/v1/files/{other}/download").content == b"y"

    # счётчик скачивания обновляется, когда ответ уже ушёл клиенту
    _wait(lambda: fleet.q("GET", "/api/v1/stats").json()["downloads_total"] == 1)
    stats = fleet.q("GET", "/api/v1/stats", role="AUDITOR").json()
    assert set(stats) == {"searches_total", "downloads_total", "download_bytes_total", "errors_total",
                          "cache_hit_ratio"}
    assert stats["downloads_total"] == 1 and stats["download_bytes_total"] == 1
    assert 0 < stats["cache_hit_ratio"] <= 1

    metrics = fleet.http.get(f"{fleet.query.url}/metrics").text
    for name in ("artstore_search_duration_seconds", "artstore_cache_requests_total",
                 "artstore_downloads_total", "artstore_download_bytes_total", "artstore_circuit_breaker_open"):
        assert name in metrics, name
    assert 'artstore_circuit_breaker_open{storage_element="se-a"} 0.0' in metrics


def test_deleted_file_event_invalidates_cache(fleet: Fleet) -> None:
    _start(fleet)
    file_id = fleet.put("se-a", "temp.txt", b"temporary")
    assert _element_of(fleet, file_id) == "se-a"  # теперь метаданные в локальном кэше
    fleet.delete("se-a", file_id)
    fleet.emit("file_deleted", file_id, "se-a")
    _wait(lambda: fleet.q("GET", f"/api/v1/files/{file_id}").status_code == 404)
    assert fleet.redis.get(f"{fleet.ns}:loc:{file_id}") is None


def test_moved_file_found_at_new_element(fleet: Fleet) -> None:
    _start(fleet)
    data = b"moving data " * 1000
    file_id = fleet.put("se-a", "move.txt", data)
    assert _element_of(fleet, file_id) == "se-a"
    # перенос (как сага ingester): копия на se-b, удаление с se-a, событие
    fleet.put("se-b", "move.txt", data, file_id=file_id)
    fleet.delete("se-a", file_id)
    fleet.emit("file_transferred", file_id, "se-b")
    _wait(lambda: _element_of(fleet, file_id) == "se-b")
    assert fleet.q("GET", f"/api/v1/files/{file_id}/download").content == data


def test_finalize_window_never_pins_the_source(fleet: Fleet) -> None:
    # окно саги: копия уже на цели, событие пришло, источник ещё не удалён. Опрос всех элементов мог
    # первым найти источник и держать его в кэше после удаления — finalize «не переносил» файл минутами.
    _start(fleet)
    listener = fleet.query_app.state.file_events
    for n in range(6):
        data = f"окно {n}".encode() * 50
        file_id = fleet.put("se-a", f"w{n}.txt", data)
        assert _element_of(fleet, file_id) == "se-a"
        fleet.put("se-b", f"w{n}.txt", data, file_id=file_id)
        seen = listener.received
        fleet.emit("file_finalized", file_id, "se-b")
        _wait(lambda: listener.received > seen)  # noqa: B023
        assert _element_of(fleet, file_id) == "se-b"
        fleet.delete("se-a", file_id)
        assert _element_of(fleet, file_id) == "se-b"
        assert fleet.q("GET", f"/api/v1/files/{file_id}/download").content == data


def test_stale_location_without_event_is_healed(fleet: Fleet) -> None:
    _start(fleet)
    data = b"stale" * 100
    file_id = fleet.put("se-a", "s.txt", data)
    assert fleet.q("GET", f"/api/v1/files/{file_id}/download").content == data
    # событие потерялось: кэш указывает на se-a, а файл уже на se-b
    fleet.put("se-b", "s.txt", data, file_id=file_id)
    fleet.delete("se-a", file_id)
    r = fleet.q("GET", f"/api/v1/files/{file_id}/download", headers={"Range": "bytes=0-4"})
    assert r.status_code == 206 and r.content == b"stale"
    assert json.loads(fleet.redis.get(f"{fleet.ns}:loc:{file_id}")) == {"storage_element_id": "se-b"}


def test_corruption_found_by_element_reaches_cached_metadata(fleet: Fleet) -> None:
    # элемент нашёл повреждение — следующий ответ query о метаданных уже не «corrupted: false» из кэша
    _start(fleet)
    data = b"fixity check " * 1000
    file_id = fleet.put("se-a", "akt.bin", data)
    r = fleet.q("GET", f"/api/v1/files/{file_id}")
    assert r.status_code == 200 and r.json()["corrupted"] is False
    entry = fleet.query_app.state.locator.cache.get_local(file_id)
    assert entry is not None and entry.meta is not None and entry.meta["corrupted"] is False  # закэшировано

    stored = [p for p in (fleet.tmp / "se-a").rglob("*")
              if p.is_file() and not p.name.endswith(".json") and p.read_bytes() == data]
    assert len(stored) == 1
    stored[0].write_bytes(b"X" + data[1:])  # тот же размер, другой sha256
    scrub = fleet.http.post(f"{fleet.elements['se-a'].url}/api/v1/scrub", headers=fleet.admin_headers)
    assert scrub.status_code == 200 and [x["file_id"] for x in scrub.json()["corrupted"]] == [file_id]

    _wait(lambda: fleet.q("GET", f"/api/v1/files/{file_id}").json()["corrupted"] is True, timeout=15)
    assert fleet.query_app.state.file_events.received >= 1
