"""Запись на реплицированный элемент через настоящий ingester (docs/replication.md §3): члены — настоящие
storage-element (потоки или процессы) с общим SE_ELEMENT_ID, снимок discovery — как у admin-module; члены
настоящие (знают соседей, откатывают, копируют через pull)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families
from tusclient import client as tus_client

from artstore_common import location_key

API = "/api/v1"


def _attr_files(data_dir: Path) -> dict[str, bytes]:
    """Все attr.json члена: путь от корня → байты (служебные каталоги с точкой не в счёт)."""
    return {str(p.relative_to(data_dir)): p.read_bytes() for p in data_dir.rglob("*.attr.json")
            if not any(part.startswith(".") for part in p.relative_to(data_dir).parts)}


def _wait(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("условие не выполнилось за отведённое время")
        time.sleep(0.05)


def _upload(url: str, headers: dict[str, str], data: bytes, **fields: str) -> httpx.Response:
    return httpx.post(url + API + "/files/upload", headers=headers, timeout=120, data=fields or None,
                      files={"file": ("отчёт.bin", data)})


def _tus_upload(fleet, url: str, data: bytes) -> dict:  # type: ignore[no-untyped-def]
    """Загрузка tuspy кусками по 1 МиБ; ответ — состояние загрузки из ``GET /uploads/{id}``."""
    c = tus_client.TusClient(url + API + "/uploads", headers=fleet.headers())
    up = c.uploader(file_stream=io.BytesIO(data), chunk_size=1024 * 1024,
                    metadata={"filename": "tus.bin", "retention_policy": "permanent"})
    up.upload()
    return httpx.get(url + API + "/uploads/" + up.url.rsplit("/", 1)[-1], headers=fleet.headers(), timeout=10).json()


def _member_attr(fleet, member: str, file_id: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.get(f"{fleet.elements[member].url}{API}/files/{file_id}", headers=fleet.headers("ADMIN"),
                     timeout=10)


def test_tee_upload_reaches_every_member_with_identical_attr(fleet) -> None:
    members = fleet.add_replicated("se-r1", "rw", 3)
    fleet.publish()
    url = fleet.ingester()
    for data in (os.urandom(5000), os.urandom(6 * 1024 * 1024 + 3)):  # в памяти и потоком (больше 1 МиБ)
        r = _upload(url, fleet.headers(), data, retention_policy="permanent", tags="реплика")
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["storage_element_id"] == "se-r1" and body["checksum"] == hashlib.sha256(data).hexdigest()
        file_id = body["file_id"]
        # кворум 2 — ответ после двух; третий дописывает из того же потока
        _wait(lambda fid=file_id: all(_member_attr(fleet, m.id, fid).status_code == 200 for m in members))
        attrs = [{k: v for k, v in _attr_files(m.data_dir).items() if file_id.replace("-", "") in k}
                 for m in members]
        assert len(attrs[0]) == 1 and attrs[0] == attrs[1] == attrs[2]  # тот же путь, те же байты attr.json
        on_disk = json.loads(next(iter(attrs[0].values())))
        assert on_disk["storage_element_id"] == "se-r1" and on_disk["created_at"] == on_disk["updated_at"]
        for m in members:
            got = httpx.get(f"{m.url}{API}/files/{file_id}/content", headers=fleet.headers("ADMIN"), timeout=30)
            assert got.content == data
        cached = redis.Redis.from_url(fleet.redis_url).get(location_key(fleet.namespace, file_id))
        assert json.loads(cached) == {"storage_element_id": "se-r1"}  # кэш знает логический элемент
    breakers = {s.labels["storage_element"]: s.value
                for f in text_string_to_metric_families(httpx.get(url + "/metrics").text)
                if f.name == "artstore_circuit_breaker_open" for s in f.samples}
    assert breakers == {m.id: 0.0 for m in members}  # предохранитель — на члена, у логического своего нет
    stats = httpx.get(url + API + "/stats", headers=fleet.headers(), timeout=10).json()
    (entry,) = [e for e in stats["storage_elements"] if e["id"] == "se-r1"]
    assert entry["circuit"] == "closed" and [x["id"] for x in entry["members"]] == [m.id for m in members]


def test_member_killed_mid_stream_does_not_fail_sync_upload(fleet) -> None:
    """kill -9 одного из трёх членов посреди потока: загрузка завершается 201 на двух оставшихся (кворум 2),
    следующие загрузки тоже идут, хотя снимок ещё считает убитого в сети."""
    members = fleet.add_replicated("se-r1", "rw", 3, process=True)
    fleet.publish()
    url = fleet.ingester()
    victim = members[2]
    block = os.urandom(1 << 20)
    data = b"".join(hashlib.sha256(bytes([i])).digest() + block for i in range(24))
    boundary = "bnd-kill"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="retention_policy"\r\n\r\npermanent\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        step = 1 << 20
        for i in range(0, len(data), step):
            if i == 8 * step:
                victim.proc.kill()  # SIGKILL посреди тела: член не успевает ни ответить, ни записать
                victim.proc.wait(10)
            yield data[i:i + step]
        yield tail

    r = httpx.post(url + API + "/files/upload", content=body(), timeout=120,
                   headers={**fleet.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 201, r.text
    assert victim.proc.poll() is not None
    file_id = r.json()["file_id"]
    sha = hashlib.sha256(data).hexdigest()
    for m in members[:2]:
        assert _member_attr(fleet, m.id, file_id).json()["checksum"] == sha
    attrs = [{k: v for k, v in _attr_files(m.data_dir).items() if file_id.replace("-", "") in k} for m in members]
    assert len(attrs[0]) == 1 and attrs[0] == attrs[1] and not attrs[2]  # у убитого — ничего видимого
    for _ in range(3):
        again = _upload(url, fleet.headers(), os.urandom(2 * 1024 * 1024), retention_policy="permanent")
        assert again.status_code == 201, again.text


def test_below_quorum_is_503_problem_naming_members(fleet) -> None:
    members = fleet.add_replicated("se-r1", "rw", 3)
    fleet.publish()
    url = fleet.ingester()
    for m in members[1:]:
        m.stop()  # снимок ещё считает их в сети: узнаём на записи
    for data in (b"small", os.urandom(3 * 1024 * 1024)):
        r = _upload(url, fleet.headers(), data, retention_policy="permanent")
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["code"] == "replication_quorum_failed" and problem["quorum"] == 2
        assert (problem["members"][0]["id"], problem["members"][0]["code"]) == ("se-r1-a", "ok")
        assert {m["id"] for m in problem["members"]} == {"se-r1-a", "se-r1-b", "se-r1-c"}
        assert "se-r1-b" in problem["detail"] and "se-r1-c" in problem["detail"]


def test_below_quorum_leaves_nothing_visible(fleet) -> None:
    """Ниже кворума успевший член откатывает запись (retract): файл не виден нигде."""
    members = fleet.add_replicated("se-r1", "rw", 3)
    fleet.publish()
    url = fleet.ingester()
    for m in members[1:]:
        m.stop()
    r = _upload(url, fleet.headers(), os.urandom(3 * 1024 * 1024), retention_policy="permanent")
    assert r.status_code == 503 and r.json()["code"] == "replication_quorum_failed", r.text
    survivor = members[0]
    info = httpx.get(survivor.url + API + "/info", headers=fleet.headers("READONLY"), timeout=10).json()
    assert info["file_count"] == 0
    found = httpx.post(survivor.url + API + "/search", headers=fleet.headers("ADMIN"), json={}, timeout=10).json()
    assert found["results"] == []


def test_placement_names_member_reasons(fleet) -> None:
    fleet.add_replicated("se-r1", "rw", 3)
    fleet.add_replicated("se-r2", "rw", 3, replication_mode="async")
    offline = {"status": "offline", "lag_seconds": None}
    fleet.publish({"se-r1-b": offline, "se-r1-c": offline, "se-r2-a": offline, "se-r2-b": offline,
                   "se-r2-c": offline})
    url = fleet.ingester()
    r = _upload(url, fleet.headers(), b"x" * 100, retention_policy="permanent")
    assert r.status_code == 503 and r.json()["code"] == "storage_unavailable", r.text
    reasons = r.json()["reasons"]
    assert any(x.startswith("se-r1: ") and "2 из 3" in x and "se-r1-b: offline" in x and "se-r1-c: offline" in x
               for x in reasons), reasons
    assert any(x.startswith("se-r2: ") and "1 из 3" in x for x in reasons), reasons
    # async: хватает одного члена в сети
    fleet.publish({"se-r1-b": offline, "se-r1-c": offline, "se-r2-b": offline, "se-r2-c": offline})
    _wait(lambda: _upload(url, fleet.headers(), b"y" * 100, retention_policy="permanent").status_code == 201)
    r = _upload(url, fleet.headers(), b"z" * 100, retention_policy="permanent")
    assert r.status_code == 201 and r.json()["storage_element_id"] == "se-r2", r.text
    # sync с одним выпавшим членом (2 из 3 в сети) — снова кандидат, и приоритетный по id
    fleet.publish({"se-r1-c": offline})
    _wait(lambda: _upload(url, fleet.headers(), b"w" * 100,
                          retention_policy="permanent").json().get("storage_element_id") == "se-r1")


def test_finalize_saga_writes_to_every_member(fleet) -> None:
    fleet.add_element("se-edit", "edit", priority=10)
    members = fleet.add_replicated("se-r1", "rw", 3)
    fleet.publish()
    url = fleet.ingester()
    data = os.urandom(2 * 1024 * 1024)
    f = _upload(url, fleet.headers(), data).json()
    r = httpx.post(url + API + f"/finalize/{f['file_id']}", headers=fleet.headers(), timeout=30)
    assert r.status_code == 202, r.text
    tx_id = r.json()["id"]

    def finished() -> bool:
        tx = httpx.get(url + API + f"/transactions/{tx_id}", headers=fleet.headers()).json()
        return tx["state"] in ("done", "failed", "compensated")

    _wait(finished, 60)
    tx = httpx.get(url + API + f"/transactions/{tx_id}", headers=fleet.headers()).json()
    assert tx["state"] == "done" and tx["target"] == "se-r1", tx
    _wait(lambda: all(_member_attr(fleet, m.id, f["file_id"]).status_code == 200 for m in members))
    attrs = [_member_attr(fleet, m.id, f["file_id"]).json() for m in members]
    assert {a["checksum"] for a in attrs} == {hashlib.sha256(data).hexdigest()}
    assert len({a["storage_path"] for a in attrs}) == 1 and attrs[0]["retention_policy"] == "permanent"


def test_tus_on_async_element_commits_on_one_member(fleet) -> None:
    """tus в async: частичная загрузка — на одном члене, после commit ответ сразу (кворум — сам член);
    остальные получат копию от pull или anti-entropy."""
    members = fleet.add_replicated("se-r1", "rw", 3, replication_mode="async")
    fleet.publish()
    url = fleet.ingester()
    data = os.urandom(2 * 1024 * 1024 + 5)
    info = _tus_upload(fleet, url, data)
    assert info["completed"] and info["storage_element_id"] == "se-r1", info
    file_id = info["file"]["file_id"]
    holders = [m for m in members if _member_attr(fleet, m.id, file_id).status_code == 200]
    assert holders
    got = httpx.get(f"{holders[0].url}{API}/files/{file_id}/content", headers=fleet.headers("ADMIN"), timeout=30)
    assert got.content == data


def test_async_element_acks_on_one_member_and_the_rest_catch_up_within_the_interval(fleet) -> None:
    """async: 201 после одного члена. Двое лежат во время 100 загрузок — это окно, которое потерял бы первый член,
    умри он сейчас; вернувшись, они получают всё от anti-entropy за интервал, отставание снова 0."""
    interval = 1.0
    members = fleet.add_replicated("se-r1", "rw", 3, replication_mode="async", interval=interval)
    fleet.publish()
    url = fleet.ingester()
    for m in members[1:]:
        m.stop()
    acked = {}
    for i in range(100):
        data = os.urandom(3000 + i)
        r = _upload(url, fleet.headers(), data, retention_policy="permanent")
        assert r.status_code == 201, r.text
        acked[r.json()["file_id"]] = hashlib.sha256(data).hexdigest()
    assert all(_member_attr(fleet, "se-r1-a", f).status_code == 200 for f in acked)
    for m in members[1:]:
        fleet.start_thread(m)

    def caught_up() -> bool:
        for m in members[1:]:
            r = httpx.get(f"{m.url}{API}/replication/inventory", headers=fleet.headers("ADMIN"),
                          params={"limit": 5000}, timeout=10)
            have = {i["file_id"]: i["checksum"] for i in r.json()["items"] if not i["deleted"]}
            if any(have.get(f) != sha for f, sha in acked.items()):
                return False
        return True

    # первый проход вернувшегося члена — через интервал; время до N/N — цифра бенчмарка, не порог теста
    _wait(caught_up, 120)
    for m in members[1:]:
        _wait(lambda m=m: httpx.get(f"{m.url}{API}/info", headers=fleet.headers("ADMIN"),
                                    timeout=10).json()["replication"]["lag_seconds"] == 0, 30)


def test_tus_on_sync_element_reaches_quorum_through_pull(fleet) -> None:
    members = fleet.add_replicated("se-r1", "rw", 3)
    fleet.publish()
    url = fleet.ingester()
    info = _tus_upload(fleet, url, os.urandom(3 * 1024 * 1024 + 1))
    assert info["completed"], info
    file_id = info["file"]["file_id"]
    assert sum(_member_attr(fleet, m.id, file_id).status_code == 200 for m in members) >= 2
    _wait(lambda: all(_member_attr(fleet, m.id, file_id).status_code == 200 for m in members), 60)
    attrs = [{k: v for k, v in _attr_files(m.data_dir).items() if file_id.replace("-", "") in k} for m in members]
    assert len(attrs[0]) == 1 and attrs[0] == attrs[1] == attrs[2]


def test_delete_on_replicated_edit_element_reaches_every_member(fleet) -> None:
    members = fleet.add_replicated("se-r1", "edit", 3)
    fleet.publish()
    url = fleet.ingester()
    r = _upload(url, fleet.headers(), b"to be deleted")
    assert r.status_code == 201, r.text
    file_id = r.json()["file_id"]
    _wait(lambda: all(_member_attr(fleet, m.id, file_id).status_code == 200 for m in members))
    members[2].stop()  # снимок считает его в сети; удаление — у кворума, остальному доставит anti-entropy
    assert httpx.delete(url + API + f"/files/{file_id}", headers=fleet.headers(), timeout=30).status_code == 204
    assert all(_member_attr(fleet, m.id, file_id).status_code == 404 for m in members[:2])
    r = httpx.delete(url + API + f"/files/{file_id}", headers=fleet.headers(), timeout=30)
    assert r.status_code == 404 and r.json()["code"] == "file_not_found"
