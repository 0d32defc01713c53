"""Клиент элемента: повторы идемпотентных запросов, новый токен после 401, предохранитель — и одна
политика «что считается сбоем элемента» (ошибка клиента, чьё тело мы пересылаем, — не сбой элемента)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from artstore_common import (
    BreakerCollector,
    CircuitBreaker,
    CircuitState,
    ElementClient,
    ElementError,
    ProblemError,
    StorageElement,
)
from artstore_common.embedded import free_port
from artstore_common.testing import read_request_body


class Element:
    """Настоящий HTTP-сервер: отвечает по очереди статусами из ``script``, затем 200; тело читает целиком."""

    def __init__(self, script: list[int] | None = None) -> None:
        self.script = list(script or [])
        self.calls: list[tuple[str, str | None, int]] = []
        self.paths: list[str] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                got = read_request_body(self.rfile, self.headers)
                if got < 0:
                    return  # тело оборвано: отвечать некому
                outer.calls.append((self.command, self.headers.get("Authorization"), got))
                outer.paths.append(self.path)
                code = outer.script.pop(0) if outer.script else 200
                body = b'{"code": "x", "detail": "y"}' if code >= 400 else b'{"ok": true}'
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.target = StorageElement(id="se-t", api_url=f"http://127.0.0.1:{self.server.server_address[1]}")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def element() -> Iterator[Element]:
    e = Element()
    yield e
    e.close()


class Tokens:
    def __init__(self) -> None:
        self.issued = 0

    async def headers(self) -> dict[str, str]:
        if not hasattr(self, "current"):
            self.issued += 1
            self.current = f"Bearer t{self.issued}"
        return {"Authorization": self.current}

    def invalidate(self) -> None:
        del self.current


async def test_idempotent_get_is_retried(element: Element) -> None:
    element.script = [503, 503]
    client = ElementClient(retries=2, backoff=0.001, failure_threshold=10)
    r = await client.request(element.target, "GET", "/x")
    assert r.status == 200
    assert [c[0] for c in element.calls] == ["GET", "GET", "GET"]
    await client.aclose()


async def test_post_is_not_retried(element: Element) -> None:
    element.script = [503]
    client = ElementClient(retries=2, backoff=0.001, failure_threshold=10)
    r = await client.request(element.target, "POST", "/x", data=b"body")
    assert r.status == 503
    assert [c[0] for c in element.calls] == ["POST"]
    await client.aclose()


async def test_unauthorized_gets_a_new_token_once(element: Element) -> None:
    """Элемент отверг токен (ключи admin сменились): клиент берёт новый и повторяет — один раз."""
    tokens = Tokens()
    element.script = [401]
    client = ElementClient(tokens, retries=0)
    assert (await client.request(element.target, "POST", "/x")).status == 200
    assert [c[1] for c in element.calls] == ["Bearer t1", "Bearer t2"]
    element.script = [401, 401]
    assert (await client.request(element.target, "GET", "/x")).status == 401
    assert client.breaker("se-t").state is CircuitState.CLOSED  # 401 — ответ по существу, не сбой
    await client.aclose()


async def test_breaker_opens_on_dead_element_and_rejects_fast() -> None:
    dead = StorageElement(id="se-dead", api_url=f"http://127.0.0.1:{free_port()}")
    client = ElementClient(retries=0, failure_threshold=3, reset_timeout=60)
    for _ in range(3):
        with pytest.raises(ElementError) as info:
            await client.request(dead, "GET", "/")
        assert info.value.status == 0 and info.value.unavailable
    assert client.breaker("se-dead").state is CircuitState.OPEN
    with pytest.raises(ElementError) as info:
        await client.request(dead, "GET", "/")
    assert info.value.code == "circuit_open"
    await client.aclose()


async def test_unencodable_address_is_unreachable_not_a_crash() -> None:
    """Адрес с пустой меткой хоста (``a..b``) IDNA не кодирует: это «элемент недоступен», а не UnicodeError
    наружу (admin discover отвечал 500 на такой api_url)."""
    client = ElementClient(retries=0)
    for method in ("request", "open"):
        with pytest.raises(ElementError) as info:
            await getattr(client, method)(StorageElement(id="x", api_url="http://a..b"), "GET", "/api/v1/info")
        assert info.value.status == 0
    with pytest.raises(ElementError):
        await client.send_body(StorageElement(id="x", api_url="http://a..b"), "PUT", "/f", b"x", headers={})
    await client.aclose()


async def test_507_and_4xx_are_answers_not_failures(element: Element) -> None:
    element.script = [507, 409, 413, 422, 507, 404]
    client = ElementClient(retries=0, failure_threshold=2)
    for _ in range(6):
        await client.send_body(element.target, "PUT", "/f", b"x", headers={})
    assert client.breaker("se-t").state is CircuitState.CLOSED
    element.script = [500, 502]
    for _ in range(2):
        await client.send_body(element.target, "PUT", "/f", b"x", headers={})
    assert client.breaker("se-t").state is CircuitState.OPEN
    await client.aclose()


class ClientWentAway(Exception):
    """Ошибка источника тела — как у ingester, когда клиент оборвал загрузку или прислал лишнее."""


async def test_client_body_errors_never_count_against_the_element(element: Element) -> None:
    """Шесть клиентов обрывают загрузку посреди тела: предохранитель здорового элемента остаётся замкнут,
    а вызывающий получает ошибку своего клиента, а не «элемент недоступен»."""

    async def broken_body() -> AsyncIterator[bytes]:
        yield b"x" * 65536
        raise ClientWentAway("клиент ушёл")

    client = ElementClient(retries=0, failure_threshold=5)
    for _ in range(6):
        with pytest.raises(ClientWentAway):
            await client.send_body(element.target, "PUT", "/f", broken_body(), headers={})
    assert client.breaker("se-t").state is CircuitState.CLOSED
    r = await client.send_body(element.target, "PUT", "/f", b"ok", headers={})
    assert r.status == 200
    await client.aclose()


async def test_half_open_probe_is_released_when_the_body_source_fails(element: Element) -> None:
    """Проба полуоткрытого предохранителя, сорвавшаяся по вине клиента, не должна запереть элемент навсегда."""

    async def broken_body() -> AsyncIterator[bytes]:
        yield b"x"
        raise ClientWentAway

    client = ElementClient(retries=0, failure_threshold=1, reset_timeout=0.05)
    element.script = [500]
    await client.request(element.target, "POST", "/x")
    time.sleep(0.06)
    with pytest.raises(ClientWentAway):
        await client.send_body(element.target, "PUT", "/f", broken_body(), headers={})
    assert (await client.request(element.target, "POST", "/x")).status == 200
    assert client.breaker("se-t").state is CircuitState.CLOSED
    await client.aclose()


async def test_token_failure_is_not_an_element_failure(element: Element) -> None:
    class NoAdmin:
        async def headers(self) -> dict[str, str]:
            raise ProblemError(503, "service_auth_failed", "admin не выдал токен")

        def invalidate(self) -> None:
            pass

    client = ElementClient(NoAdmin(), retries=0, failure_threshold=1)
    with pytest.raises(ElementError) as info:
        await client.request(element.target, "GET", "/x")
    assert info.value.code == "service_auth_failed"
    assert client.breaker("se-t").state is CircuitState.CLOSED and not element.calls
    await client.aclose()


def test_breaker_metric_is_labelled_by_element_id() -> None:
    client = ElementClient(failure_threshold=1)
    client.breaker("se-b").record_failure()
    registry = CollectorRegistry()
    registry.register(BreakerCollector(client, lambda: ["se-a", "se-b"]))
    text = generate_latest(registry).decode()
    assert 'artstore_circuit_breaker_open{storage_element="se-a"} 0.0' in text
    assert 'artstore_circuit_breaker_open{storage_element="se-b"} 1.0' in text


async def test_recovered_element_is_probed_back_without_user_traffic(element: Element) -> None:
    """Полуоткрытый предохранитель закрывает фоновая проба /health/live: иначе его закрыл бы только
    пользовательский запрос, а размещение и чтение отдают их здоровым адресатам."""
    healthy = StorageElement(id="se-ok", api_url=element.target.api_url)
    client = ElementClient(retries=0, failure_threshold=1, reset_timeout=0.05)
    element.script = [503]
    assert (await client.request(element.target, "GET", "/x")).status == 503
    assert client.breaker("se-t").state is CircuitState.OPEN
    # разомкнутый ещё не пробуется, закрытый — незачем
    assert await client.probe_half_open([element.target, healthy]) == [] and element.paths == ["/x"]
    time.sleep(0.06)
    element.script = [503]  # ещё не поднялся: проба снова размыкает
    assert await client.probe_half_open([element.target, healthy]) == []
    assert element.paths == ["/x", "/health/live"] and client.breaker("se-t").state is CircuitState.OPEN
    time.sleep(0.06)
    client.start_probing(lambda: [element.target, healthy], interval=0.01)
    for _ in range(1000):  # до 10 с: проба идёт раз в 0,01 с
        if client.breaker("se-t").state is CircuitState.CLOSED:
            break
        await asyncio.sleep(0.01)
    assert client.breaker("se-t").state is CircuitState.CLOSED
    assert set(element.paths[2:]) == {"/health/live"}
    await client.aclose()  # останавливает и фоновую пробу
    assert client._prober is None


def test_breaker_half_open_probe_then_close() -> None:
    b = CircuitBreaker("t", failure_threshold=2, reset_timeout=0.05)
    b.record_failure()
    assert b.state is CircuitState.CLOSED
    b.record_failure()
    assert b.state is CircuitState.OPEN and not b.allow()
    time.sleep(0.06)
    assert b.state is CircuitState.HALF_OPEN
    assert b.allow() and not b.allow()  # пропускается ровно один пробный запрос
    b.record_failure()
    assert b.state is CircuitState.OPEN
    time.sleep(0.06)
    assert b.allow()
    b.record_success()
    assert b.state is CircuitState.CLOSED and b.allow()
