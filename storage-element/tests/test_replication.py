"""Сторона члена реплицированного элемента (docs/replication.md §3–§7) на трёх настоящих процессах элемента
(uvicorn на loopback в этом процессе), общий PostgreSQL, токены — как у admin-module: опись, копии, надгробия,
откат, ремонт, версии, пустой диск, лидер."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from artstore_common.testing import TokenFactory, TokenServer, UvicornThread, free_port
from storage_element.app import create_app
from storage_element.settings import Settings

from .conftest import meta_header

API = "/api/v1"


@dataclass
class Member:
    id: str
    url: str
    settings: Settings
    thread: UvicornThread | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        self.thread = UvicornThread(create_app(self.settings), port=int(self.url.rsplit(":", 1)[1])).__enter__()

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.__exit__(None, None, None)
            self.thread = None


@dataclass
class Trio:
    members: dict[str, Member]
    headers: dict[str, str]
    http: httpx.Client
    user_headers: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, member: str) -> Member:
        return self.members[member]

    def put(self, member: str, data: bytes, file_id: str | None = None, **meta: Any) -> httpx.Response:
        file_id = file_id or str(uuid.uuid4())
        meta.setdefault("created_at", "2026-12-01T10:00:00+00:00")
        return self.http.put(f"{self[member].url}{API}/files/{file_id}", content=data,
                             headers={**self.headers, "X-Artstore-Meta": meta_header(**meta)})

    def attr(self, member: str, file_id: str) -> httpx.Response:
        return self.http.get(f"{self[member].url}{API}/files/{file_id}", headers=self.headers)

    def content(self, member: str, file_id: str) -> httpx.Response:
        return self.http.get(f"{self[member].url}{API}/files/{file_id}/content", headers=self.headers)

    def sync(self, member: str) -> dict[str, Any]:
        r = self.http.post(f"{self[member].url}{API}/replication/sync", headers=self.headers, timeout=120)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def info(self, member: str) -> dict[str, Any]:
        body: dict[str, Any] = self.http.get(f"{self[member].url}{API}/info", headers=self.headers).json()
        return body

    def inventory(self, member: str) -> dict[str, dict[str, Any]]:
        r = self.http.get(f"{self[member].url}{API}/replication/inventory", headers=self.headers)
        assert r.status_code == 200, r.text
        return {i["file_id"]: i for i in r.json()["items"]}


def _attr_files(data_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data_dir)): p.read_bytes() for p in data_dir.rglob("*.attr.json")
            if not any(part.startswith(".") for part in p.relative_to(data_dir).parts)}


def _wait(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("условие не выполнилось за отведённое время")
        time.sleep(0.1)


@pytest.fixture
def trio(make_settings: Callable[..., Settings], tmp_path: Path, token_factory: TokenFactory) -> Iterator[Trio]:
    tokens = TokenServer(token_factory, sub="sa-member", name="storage-element")
    ids = ["se-r1-a", "se-r1-b", "se-r1-c"]
    ports = {m: free_port() for m in ids}
    peers = [{"id": m, "api_url": f"http://127.0.0.1:{p}"} for m, p in ports.items()]
    members = {}
    for m in ids:
        suffix = m[-1]
        settings = make_settings(
            element_id="se-r1", member_id=m, replication_mode="sync", replication_peers=peers,
            replication_interval=3600, token_url=tokens.url, client_id="member", client_secret="member-secret",
            data_dir=tmp_path / m, cold_dir=tmp_path / f"{m}-cold", table_prefix=f"se_r1_{suffix}",
            port=ports[m], mode="edit")
        members[m] = Member(m, f"http://127.0.0.1:{ports[m]}", settings)
        members[m].start()
    http = httpx.Client(timeout=60)
    try:
        yield Trio(members, token_factory.headers("ADMIN"), http, token_factory.headers("USER"))
    finally:
        http.close()
        for member in members.values():
            member.stop()
        tokens.close()


def test_member_info_names_itself_and_its_peers(trio: Trio) -> None:
    info = trio.info("se-r1-b")
    assert info["id"] == "se-r1" and info["member_id"] == "se-r1-b"
    rep = info["replication"]
    assert rep["mode"] == "sync" and rep["quorum"] == 2 and rep["interval_s"] == 3600
    assert [p["id"] for p in rep["peers"]] == ["se-r1-a", "se-r1-b", "se-r1-c"]
    # лидер (замок PostgreSQL по id логического элемента) — ровно один член
    _wait(lambda: sum(bool(trio.info(m)["replication"]["leader"]) for m in trio.members) == 1, 20)


def test_standalone_element_has_no_replication_routes_to_use(make_settings: Callable[..., Settings],
                                                              token_factory: TokenFactory) -> None:
    settings = make_settings(port=free_port())
    with UvicornThread(create_app(settings), port=settings.port) as server:
        headers = token_factory.headers("ADMIN")
        url = f"http://127.0.0.1:{settings.port}"
        info = httpx.get(f"{url}{API}/info", headers=headers).json()
        assert "member_id" not in info and "replication" not in info
        r = httpx.get(f"{url}{API}/replication/inventory", headers=headers)
        assert r.status_code == 409 and r.json()["code"] == "not_replicated", r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert server is not None


def test_settings_refuse_a_member_missing_from_its_peers(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ValueError, match="не называет сам член"):
        make_settings(member_id="se-r1-z", replication_mode="sync", client_id="m", client_secret="s",
                      replication_peers=[{"id": "se-r1-a", "api_url": "http://127.0.0.1:1"}])
    with pytest.raises(ValueError, match="SE_MEMBER_ID"):
        make_settings(replication_mode="async", replication_peers=[{"id": "a", "api_url": "http://127.0.0.1:1"}])


def test_anti_entropy_copies_missing_file_with_identical_attr_json(trio: Trio) -> None:
    data = os.urandom(300_000)
    file_id = str(uuid.uuid4())
    assert trio.put("se-r1-a", data, file_id, description="годовой отчёт", tags=["отчёт"]).status_code == 201
    assert trio.attr("se-r1-b", file_id).status_code == 404
    assert trio.inventory("se-r1-a")[file_id]["version"] == 1
    report = trio.sync("se-r1-b")
    assert report["pulled"] == 1 and report["failed"] == 0, report
    got = trio.content("se-r1-b", file_id)
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == hashlib.sha256(data).hexdigest()
    # та же копия: путь, attr.json байт в байт — папка члена сама по себе резервная копия
    assert _attr_files(trio["se-r1-a"].settings.data_dir) == _attr_files(trio["se-r1-b"].settings.data_dir)
    # а пока c не получил копию, у a и b она числится недореплицированной
    assert trio.sync("se-r1-a")["under_replicated"] == 1
    trio.sync("se-r1-c")
    assert trio.sync("se-r1-a")["under_replicated"] == 0
    assert trio.info("se-r1-a")["replication"]["under_replicated"] == 0
    assert trio.sync("se-r1-b")["pulled"] == 0  # повторный проход ничего не копирует


def test_delete_leaves_tombstone_that_neighbours_repeat_and_never_undo(trio: Trio) -> None:
    file_id = str(uuid.uuid4())
    for m in ("se-r1-a", "se-r1-b", "se-r1-c"):
        assert trio.put(m, b"to be deleted", file_id).status_code == 201
    r = trio.http.delete(f"{trio['se-r1-a'].url}{API}/files/{file_id}", headers=trio.headers)
    assert r.status_code == 204
    tomb = json.loads((trio["se-r1-a"].settings.data_dir / ".tombstones" / f"{file_id}.json").read_text())
    assert tomb["file_id"] == file_id and tomb["version"] == 1 and tomb["reason"] == "deleted"
    assert trio.inventory("se-r1-a")[file_id]["deleted"] is True
    # c пересылает свою копию a? нет: у a надгробие той же версии — оно побеждает файл
    assert trio.sync("se-r1-a")["pulled"] == 0
    assert trio.attr("se-r1-a", file_id).status_code == 404
    assert trio.sync("se-r1-b")["deleted"] == 1
    assert trio.attr("se-r1-b", file_id).status_code == 404
    trio.sync("se-r1-c")
    assert trio.attr("se-r1-c", file_id).status_code == 404
    assert all(trio.inventory(m)[file_id]["deleted"] for m in trio.members)


def test_retract_only_fresh_writes_and_pull_refuses_deleted(trio: Trio) -> None:
    file_id = str(uuid.uuid4())
    assert trio.put("se-r1-a", b"unconfirmed", file_id).status_code == 201
    r = trio.http.post(f"{trio['se-r1-a'].url}{API}/files/{file_id}/retract", headers=trio.headers)
    assert r.status_code == 200 and r.json()["retracted"] is True, r.text
    assert trio.attr("se-r1-a", file_id).status_code == 404
    again = trio.http.post(f"{trio['se-r1-a'].url}{API}/files/{file_id}/retract", headers=trio.headers)
    assert again.status_code == 404 and again.json()["code"] == "file_not_found"
    # файл, которого этот процесс не писал (копия от соседа), откатом не удалить
    other = str(uuid.uuid4())
    assert trio.put("se-r1-b", b"confirmed", other).status_code == 201
    trio.sync("se-r1-a")
    r = trio.http.post(f"{trio['se-r1-a'].url}{API}/files/{other}/retract", headers=trio.headers)
    assert r.status_code == 409 and r.json()["code"] == "retract_window_passed", r.text
    # член, до которого откат не дошёл (c записал, но не откатил), получает надгробие, файл не всплывает
    late = str(uuid.uuid4())
    assert trio.put("se-r1-a", b"partial", late).status_code == 201
    assert trio.put("se-r1-c", b"partial", late).status_code == 201
    assert trio.http.post(f"{trio['se-r1-a'].url}{API}/files/{late}/retract", headers=trio.headers).status_code == 200
    assert trio.sync("se-r1-c")["deleted"] == 1
    assert trio.attr("se-r1-c", late).status_code == 404
    r = trio.http.post(f"{trio['se-r1-b'].url}{API}/replication/pull", headers=trio.headers,
                       json={"file_id": late, "source": "se-r1-a"})
    assert r.status_code == 404 and r.json()["code"] == "file_not_found", r.text
    # повтор записи с тем же id (сага повторяет перенос) — версия новее надгробия, соседи её не удалят
    assert trio.put("se-r1-a", b"partial", late).status_code == 201
    assert trio.attr("se-r1-a", late).json()["version"] == 2
    assert trio.sync("se-r1-c")["pulled"] == 1
    assert trio.attr("se-r1-c", late).status_code == 200


def test_pull_copies_from_named_source_and_is_idempotent(trio: Trio) -> None:
    data = os.urandom(2 * 1024 * 1024 + 7)
    file_id = str(uuid.uuid4())
    assert trio.put("se-r1-a", data, file_id).status_code == 201
    url = f"{trio['se-r1-c'].url}{API}/replication/pull"
    r = trio.http.post(url, headers=trio.headers, json={"file_id": file_id, "source": "se-r1-a"})
    assert r.status_code == 201 and r.json()["checksum"] == hashlib.sha256(data).hexdigest(), r.text
    r = trio.http.post(url, headers=trio.headers, json={"file_id": file_id, "source": "se-r1-a"})
    assert r.status_code == 200
    r = trio.http.post(url, headers=trio.headers, json={"file_id": file_id, "source": "se-r9-x"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_member", r.text
    r = trio.http.post(url, headers=trio.headers, json={"file_id": "../etc", "source": "se-r1-a"})
    assert r.status_code == 422
    assert trio.content("se-r1-c", file_id).content == data


def test_corrupted_copy_is_repaired_from_a_neighbour(trio: Trio) -> None:
    data = os.urandom(500_000)
    file_id = str(uuid.uuid4())
    for m in trio.members:
        assert trio.put(m, data, file_id).status_code == 201
    path = trio["se-r1-b"].settings.data_dir / trio.attr("se-r1-b", file_id).json()["storage_path"]
    raw = bytearray(path.read_bytes())
    raw[1234] ^= 0x01
    path.write_bytes(bytes(raw))
    r = trio.http.post(f"{trio['se-r1-b'].url}{API}/scrub", headers=trio.headers, timeout=60)
    assert r.status_code == 200 and r.json()["corrupted"], r.text
    # скраб пометил копию и заказал её починку: на диске снова верные байты, пометки нет
    _wait(lambda: path.exists() and path.read_bytes() == data)
    _wait(lambda: trio.attr("se-r1-b", file_id).json().get("corrupted") is False)
    assert trio.content("se-r1-b", file_id).content == data
    r = trio.http.get(f"{trio['se-r1-b'].url}/metrics")
    assert 'artstore_replication_repairs_total{member="se-r1-b",outcome="done",storage_element="se-r1"} 1.0' in r.text


def test_newer_version_wins_and_is_never_overwritten_by_older(trio: Trio) -> None:
    file_id = str(uuid.uuid4())
    for m in ("se-r1-a", "se-r1-b"):
        assert trio.put(m, b"versioned", file_id, description="первая").status_code == 201
    # правка метаданных у a (версия 2) — в attr.json, источник истины; кэш пересобирается по нему
    a = trio["se-r1-a"].settings.data_dir
    attr_path = next(p for p in a.rglob("*.attr.json") if file_id.replace("-", "") in p.name)
    attr = json.loads(attr_path.read_bytes())
    attr.update(version=2, description="вторая")
    attr_path.write_bytes(json.dumps(attr, ensure_ascii=False).encode())
    r = trio.http.post(f"{trio['se-r1-a'].url}{API}/cache/rebuild?mode=full", headers=trio.headers, timeout=60)
    assert r.status_code == 200, r.text
    assert trio.attr("se-r1-a", file_id).json()["version"] == 2
    # a старшую копию себе не заменит младшей
    assert trio.sync("se-r1-a")["pulled"] == 0
    assert trio.attr("se-r1-a", file_id).json()["description"] == "вторая"
    # b заменяет младшую на старшую
    assert trio.sync("se-r1-b")["pulled"] == 1
    got = trio.attr("se-r1-b", file_id).json()
    assert (got["version"], got["description"]) == (2, "вторая")


def test_member_restarted_on_an_empty_disk_refills_itself(trio: Trio) -> None:
    files = {}
    for i in range(20):
        data = os.urandom(10_000 + i)
        file_id = str(uuid.uuid4())
        for m in trio.members:
            assert trio.put(m, data, file_id, original_filename=f"файл {i}.bin").status_code == 201
        files[file_id] = data
    member = trio["se-r1-c"]
    member.stop()
    shutil.rmtree(member.settings.data_dir)
    member.start()
    # новый диск: кэш-таблица (она помнит файлы) пересобрана по пустому диску, первый проход — сразу
    _wait(lambda: trio.info("se-r1-c")["file_count"] == len(files), 60)
    for file_id, data in files.items():
        got = trio.content("se-r1-c", file_id)
        assert got.status_code == 200 and got.content == data
    assert _attr_files(member.settings.data_dir) == _attr_files(trio["se-r1-a"].settings.data_dir)


def test_inventory_pages_and_refuses_unstorable_cursor(trio: Trio) -> None:
    ids = sorted(str(uuid.uuid4()) for _ in range(5))
    for file_id in ids:
        assert trio.put("se-r1-a", b"page", file_id).status_code == 201
    url = f"{trio['se-r1-a'].url}{API}/replication/inventory"
    first = trio.http.get(url, headers=trio.headers, params={"limit": 3}).json()
    assert [i["file_id"] for i in first["items"]] == ids[:3] and first["next"] == ids[2]
    rest = trio.http.get(url, headers=trio.headers, params={"limit": 3, "after": first["next"]}).json()
    assert [i["file_id"] for i in rest["items"]] == ids[3:] and rest["next"] is None
    # курсор, который не мог бы быть file_id, — ясный отказ, а не 500 (NUL не хранится в PostgreSQL)
    bad = trio.http.get(url, headers=trio.headers, params={"after": "../x"})
    assert bad.status_code == 422, bad.text
    nul = trio.http.get(url, headers=trio.headers, params={"after": "a\x00b"})
    assert nul.status_code == 400 and nul.headers["content-type"].startswith("application/problem+json")
    # только сервисный токен (ADMIN): опись, копии и откат — не для пользователей
    assert trio.http.get(url, headers=trio.user_headers).status_code == 403
    r = trio.http.post(f"{trio['se-r1-a'].url}{API}/files/{ids[0]}/retract", headers=trio.user_headers)
    assert r.status_code == 403 and trio.attr("se-r1-a", ids[0]).status_code == 200
