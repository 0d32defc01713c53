"""Межсервисный клиент: повторы идемпотентных запросов, предохранитель размыкается и замыкается."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from artstore_common import CircuitBreaker, CircuitOpenError, CircuitState, ProblemError, ServiceClient


class Flaky:
    """Настоящий HTTP-сервер: первые ``fail`` запросов отвечают 503."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.calls: list[str] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.calls.append(self.command)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                code = 503 if len(outer.calls) <= outer.fail else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _answer

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    f = Flaky(fail=2)
    yield f
    f.server.shutdown()
    f.server.server_close()


async def test_idempotent_get_is_retried(flaky: Flaky) -> None:
    client = ServiceClient(retries=2, backoff=0.001, failure_threshold=10)
    r = await client.request(flaky.url, "GET", "/x")
    assert r.status_code == 200
    assert flaky.calls == ["GET", "GET", "GET"]
    await client.aclose()


async def test_post_is_not_retried(flaky: Flaky) -> None:
    client = ServiceClient(retries=2, backoff=0.001, failure_threshold=10)
    r = await client.request(flaky.url, "POST", "/x", content=b"body")
    assert r.status_code == 503
    assert flaky.calls == ["POST"]
    await client.aclose()


async def test_breaker_opens_on_dead_target_and_rejects_fast() -> None:
    from artstore_common.embedded import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    client = ServiceClient(retries=0, failure_threshold=3, reset_timeout=60)
    for _ in range(3):
        with pytest.raises(ProblemError):
            await client.request(dead, "GET", "/")
    assert client.breaker(dead).state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        await client.request(dead, "GET", "/")
    await client.aclose()


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
