"""Реплицированный элемент в ElementClient (docs/replication.md §2–§4) на настоящих HTTP-серверах loopback:
разбор снимка, тройник записи (завис член — остальные дописывают; оборвался источник — никто не записал и
ничей предохранитель не тронут), кворум и откат, чтение с переходом на соседа и заказ ремонта.

Сквозные сценарии с настоящими storage-element — в тестах ingester-module и query-module."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from artstore_common import CircuitState, ElementClient, ElementError, Member, SearchRequest, StorageElement
from artstore_common.embedded import free_port
from artstore_common.testing import read_request_body


class Node:
    """Член-заглушка на настоящем сокете: ответ на (метод, путь) — из ``answers`` (по умолчанию 201 для PUT
    и 200 для остального); каждый запрос с полностью принятым телом записывается в ``calls``."""

    def __init__(self, member_id: str) -> None:
        self.answers: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = {}
        self.calls: list[tuple[str, str, int]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                got = read_request_body(self.rfile, self.headers)
                if got < 0:
                    return  # тело оборвано: запись не зафиксирована, отвечать некому
                outer.calls.append((self.command, self.path, got))
                script = outer.answers.get((self.command, self.path))
                if script:
                    code, body = script.pop(0) if len(script) > 1 else script[0]
                else:
                    code, body = (201 if self.command == "PUT" else 200), {"file_id": "f", "from": member_id}
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.member = Member(member_id, f"http://127.0.0.1:{self.server.server_address[1]}")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self, method: str) -> list[str]:
        return [p for m, p, _ in self.calls if m == method]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Stalled:
    """Член, который принял соединение и заголовки, но тело не читает (завис диск, SIGSTOP)."""

    def __init__(self, member_id: str) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.member = Member(member_id, f"http://127.0.0.1:{self.sock.getsockname()[1]}")
        self.conns: list[socket.socket] = []
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.conns.append(conn)

    def close(self) -> None:
        self.stop.set()
        for c in self.conns:
            c.close()
        self.sock.close()


def element(*members: Member, mode: str = "sync", quorum: int | None = None) -> StorageElement:
    raw: dict[str, Any] = {"id": "se-r1", "api_url": members[0].api_url, "mode": "rw", "status": "online",
                           "replication": {"mode": mode, "members": [
                               {"id": m.id, "api_url": m.api_url, "status": m.status} for m in members]}}
    if quorum is not None:
        raw["replication"]["quorum"] = quorum
    el = StorageElement.from_snapshot(raw)
    assert el is not None
    return el


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    made = [Node(f"se-r1-{c}") for c in "abc"]
    yield made
    for n in made:
        n.close()


def dead(member_id: str) -> Member:
    return Member(member_id, f"http://127.0.0.1:{free_port()}")


async def body(total: int, chunk: int = 256 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(chunk, total - sent)
        sent += n
        yield b"x" * n


def test_snapshot_replication_block() -> None:
    raw = {"id": "se-r1", "api_url": "http://127.0.0.1:8012/", "mode": "rw", "status": "degraded",
           "replication": {"mode": "sync", "quorum": 2, "members": [
               {"id": "se-r1-a", "api_url": "http://127.0.0.1:8012", "status": "online", "lag_seconds": 0},
               {"id": "se-r1-b", "api_url": "http://127.0.0.1:8013/", "status": "online"},
               {"id": "se-r1-c", "api_url": "http://127.0.0.1:8014", "status": "offline", "lag_seconds": None},
               {"id": "", "api_url": "http://nowhere"}]}}
    el = StorageElement.from_snapshot(raw)
    assert el is not None and el.replicated
    assert el.members == (Member("se-r1-a", "http://127.0.0.1:8012", "online"),
                          Member("se-r1-b", "http://127.0.0.1:8013", "online"),
                          Member("se-r1-c", "http://127.0.0.1:8014", "offline"))
    assert (el.replication_mode, el.quorum, el.write_quorum) == ("sync", 2, 2)
    assert [t.id for t in el.targets] == ["se-r1-a", "se-r1-b", "se-r1-c"]
    # без кворума — большинство; кворум больше числа членов — тоже большинство; async подтверждает один
    raw["replication"] = {"mode": "async", "quorum": 7, "members": raw["replication"]["members"][:3]}
    el = StorageElement.from_snapshot(raw)
    assert el is not None and (el.replication_mode, el.quorum, el.write_quorum) == ("async", 2, 1)
    raw["replication"] = {"mode": "chaos", "members": raw["replication"]["members"]}
    el = StorageElement.from_snapshot(raw)
    assert el is not None and el.replication_mode == "sync"
    plain = StorageElement.from_snapshot({"id": "se-01", "api_url": "http://x"})
    assert plain is not None and not plain.replicated and plain.write_quorum == 1
    assert [t.id for t in plain.targets] == ["se-01"]


async def test_tee_write_reaches_every_member_with_one_created_at(nodes: list[Node]) -> None:
    client = ElementClient(retries=0)
    el = element(*(n.member for n in nodes))
    try:
        attr = await client.put_file(el, "f", {"original_filename": "a.bin"}, body(3 * 1024 * 1024))
        assert attr["file_id"] == "f"
        for _ in range(100):  # третий член дописывает в фоне после кворума
            if all(n.paths("PUT") for n in nodes):
                break
            await asyncio.sleep(0.05)
        assert [[c[2] for c in n.calls if c[0] == "PUT"] for n in nodes] == [[3 * 1024 * 1024]] * 3
    finally:
        await client.aclose()


async def test_stalled_member_is_dropped_and_the_others_finish(nodes: list[Node]) -> None:
    stalled = Stalled("se-r1-c")
    client = ElementClient(retries=0, stall_timeout=0.5)
    el = element(nodes[0].member, nodes[1].member, stalled.member)
    try:
        size = 48 * 1024 * 1024  # больше буферов сокета: зависший член перестаёт брать данные
        attr = await client.put_file(el, "f", {"original_filename": "a.bin"}, body(size))
        assert attr["file_id"] == "f"
        assert [c[2] for c in nodes[0].calls] == [size] and [c[2] for c in nodes[1].calls] == [size]
        assert client.breaker("se-r1-c")._failures == 1  # зависание — сбой члена
    finally:
        await client.aclose()
        stalled.close()


class ClientWentAway(Exception):
    pass


async def test_body_source_error_fails_no_member_and_commits_nothing(nodes: list[Node]) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * 300_000
        yield b"y" * 300_000
        raise ClientWentAway("клиент ушёл")

    client = ElementClient(retries=0, failure_threshold=1)
    el = element(*(n.member for n in nodes))
    try:
        with pytest.raises(ClientWentAway):
            await client.put_file(el, "f", {"original_filename": "a.bin"}, broken())
        await asyncio.sleep(0.2)
        assert all(not n.paths("PUT") for n in nodes)  # ни один член не получил тело целиком
        assert all(client.breaker(n.member.id).state is CircuitState.CLOSED for n in nodes)
        assert all(not n.paths("POST") for n in nodes)  # откатывать нечего
    finally:
        await client.aclose()


async def test_below_quorum_is_503_naming_members_and_retracts_fresh_copies(nodes: list[Node]) -> None:
    """Записал один из трёх (кворум 2): 503 replication_quorum_failed с исходом каждого члена и откат у
    записавшего; член, у которого файл уже был (200), не откатывается — это чужой подтверждённый файл."""
    client = ElementClient(retries=0)
    el = element(nodes[0].member, dead("se-r1-b"), dead("se-r1-c"))
    try:
        with pytest.raises(ElementError) as info:
            await client.put_file(el, "f", {"original_filename": "a.bin"}, body(100_000))
        err = info.value
        assert (err.status, err.code) == (503, "replication_quorum_failed")
        assert [m["id"] for m in err.body["members"]] == ["se-r1-a", "se-r1-b", "se-r1-c"]
        assert err.body["members"][0]["code"] == "ok" and err.body["committed"] == 1
        assert "se-r1-b" in err.detail and "нужно 2" in err.detail
        problem = err.to_problem()
        assert problem.status == 503 and problem.code == "replication_quorum_failed"
        assert nodes[0].paths("POST") == ["/api/v1/files/f/retract"]

        nodes[0].answers[("PUT", "/api/v1/files/g")] = [(200, {"file_id": "g"})]
        with pytest.raises(ElementError):
            await client.put_file(el, "g", {"original_filename": "a.bin"}, b"same")
        assert nodes[0].paths("POST") == ["/api/v1/files/f/retract"]
    finally:
        await client.aclose()


async def test_same_refusal_everywhere_is_the_answer(nodes: list[Node]) -> None:
    for n in nodes:
        n.answers[("PUT", "/api/v1/files/f")] = [(507, {"code": "insufficient_storage", "detail": "нет места"})]
    client = ElementClient(retries=0)
    try:
        with pytest.raises(ElementError) as info:
            await client.put_file(element(*(n.member for n in nodes)), "f", {"original_filename": "a"}, b"x")
        assert (info.value.status, info.value.code) == (507, "insufficient_storage")
    finally:
        await client.aclose()


async def test_not_enough_ready_members_fails_before_reading_the_body(nodes: list[Node]) -> None:
    client = ElementClient(retries=0)
    el = element(nodes[0].member, Member("se-r1-b", nodes[1].member.api_url, "offline"),
                 Member("se-r1-c", nodes[2].member.api_url, "offline"))
    read = []

    async def source() -> AsyncIterator[bytes]:
        read.append(1)
        yield b"x"

    try:
        ready = client.write_readiness(el)
        assert not ready.writable and [m.id for m in ready.ready] == ["se-r1-a"]
        offline = "offline по данным admin-module"
        assert ready.reasons == {"se-r1-b": offline, "se-r1-c": offline}
        with pytest.raises(ElementError) as info:
            await client.put_file(el, "f", {"original_filename": "a"}, source())
        assert info.value.code == "replication_quorum_failed" and not read
        # async: достаточно одного члена
        assert client.write_readiness(element(*el.members, mode="async")).writable
    finally:
        await client.aclose()


async def test_read_fails_over_and_orders_repair(nodes: list[Node]) -> None:
    client = ElementClient(retries=0)
    path = "/api/v1/files/f"
    nodes[0].answers[("GET", path)] = [(503, {"code": "x"})]
    nodes[1].answers[("GET", path)] = [(404, {"code": "file_not_found", "detail": "нет"})]
    nodes[2].answers[("GET", path)] = [(200, {"file_id": "f", "checksum": "c"})]
    el = element(*(n.member for n in nodes))
    try:
        for _ in range(3):  # с какого члена ни начать по кругу — ответ один
            assert (await client.get_attr(el, "f"))["checksum"] == "c"
        for _ in range(50):
            if nodes[1].paths("POST"):
                break
            await asyncio.sleep(0.02)
        # ремонт — только члену без файла и один раз (повтор в течение минуты не заказывается)
        assert nodes[1].paths("POST") == ["/api/v1/replication/repair"]
        assert not nodes[0].paths("POST") and not nodes[2].paths("POST")
    finally:
        await client.aclose()


async def test_missing_is_final_only_when_a_holder_must_have_answered(nodes: list[Node]) -> None:
    """sync, кворум 2 из 3: «нет» от двух членов окончательно (подтверждённый файл есть хотя бы у двух);
    «нет» от одного при двух молчащих — ещё не ответ: 503, а не 404."""
    client = ElementClient(retries=0)
    for n in nodes:
        n.answers[("GET", "/api/v1/files/f")] = [(404, {"code": "file_not_found"})]
    try:
        assert await client.get_attr(element(dead("se-r1-x"), nodes[1].member, nodes[2].member), "f") is None
        with pytest.raises(ElementError) as info:
            await client.get_attr(element(dead("se-r1-x"), dead("se-r1-y"), nodes[2].member), "f")
        assert info.value.unavailable and "se-r1-x" in info.value.detail
        with pytest.raises(ElementError):  # async: копия могла остаться только у молчащего
            await client.get_attr(element(dead("se-r1-x"), nodes[1].member, nodes[2].member, mode="async"), "f")
        assert not any(n.paths("POST") for n in nodes)  # файла нет нигде — ремонтировать нечего
    finally:
        await client.aclose()


async def test_content_skips_corrupted_copy_before_any_byte(nodes: list[Node]) -> None:
    client = ElementClient(retries=0)
    path = "/api/v1/files/f/content"
    nodes[0].answers[("GET", path)] = [(409, {"code": "file_corrupted", "detail": "повреждён"})]
    nodes[1].answers[("GET", path)] = [(409, {"code": "file_corrupted", "detail": "повреждён"})]
    nodes[2].answers[("GET", path)] = [(200, {"good": True})]
    el = element(*(n.member for n in nodes))
    try:
        for _ in range(3):
            up = await client.open_content(el, "f")
            assert up.status == 200 and json.loads(await up.read()) == {"good": True}
            await up.aclose()
        nodes[2].answers[("GET", path)] = [(409, {"code": "file_corrupted", "detail": "повреждён"})]
        up = await client.open_content(el, "f")  # испорчены все копии — честный 409
        assert up.status == 409 and json.loads(await up.read())["code"] == "file_corrupted"
        await up.aclose()
        for _ in range(50):
            if all(n.paths("POST") for n in nodes):
                break
            await asyncio.sleep(0.02)
        assert all(n.paths("POST") == ["/api/v1/replication/repair"] for n in nodes)
    finally:
        await client.aclose()


async def test_delete_goes_to_every_member_and_search_to_one(nodes: list[Node]) -> None:
    client = ElementClient(retries=0)
    el = element(*(n.member for n in nodes))
    nodes[2].answers[("DELETE", "/api/v1/files/f")] = [(404, {"code": "file_not_found"})]
    try:
        assert await client.delete_file(el, "f") is True
        assert [n.paths("DELETE") for n in nodes] == [["/api/v1/files/f"]] * 3
        nodes[0].answers[("POST", "/api/v1/search")] = [(503, {"code": "x"})]
        for n in nodes[1:]:
            n.answers[("POST", "/api/v1/search")] = [(200, {"results": [{"file_id": "f"}], "total_count": 1})]
        for _ in range(3):
            page = await client.search(el, SearchRequest(), offset=0, limit=10)
            assert [r["file_id"] for r in page.results] == ["f"]
        assert len(nodes[1].paths("POST")) + len(nodes[2].paths("POST")) == 3  # по одному члену на запрос
    finally:
        await client.aclose()


async def test_replicate_waits_for_quorum_of_pulls(nodes: list[Node]) -> None:
    """tus: файл зафиксирован на члене a, b и c забирают его pull; кворум 2 — хватает одного pull.
    Отказали все pull — откат у источника и 503."""
    client = ElementClient(retries=0)
    el = element(*(n.member for n in nodes))
    try:
        have = await client.replicate(el, "f", nodes[0].member)
        assert have[0] == "se-r1-a" and len(have) >= 2
        assert not nodes[0].paths("POST")
        for n in nodes[1:]:
            n.answers[("POST", "/api/v1/replication/pull")] = [(404, {"detail": "Not Found"})]
        with pytest.raises(ElementError) as info:
            await client.replicate(el, "g", nodes[0].member)
        assert info.value.code == "replication_quorum_failed"
        assert nodes[0].paths("POST") == ["/api/v1/files/g/retract"]
    finally:
        await client.aclose()
