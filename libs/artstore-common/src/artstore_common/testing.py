"""Pytest-плагин и помощники тестов ArtStore (подключается в корневом pyproject: ``-p artstore_common.testing``).

Реальные PostgreSQL и Redis: из ``ARTSTORE_TEST_DATABASE_URL``/``ARTSTORE_TEST_REDIS_URL`` (CI передаёт
127.0.0.1:5432/6379), иначе встроенные, запущенные на сессию тестов. Каждый тест — своя база и свой
префикс ключей Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .embedded import EmbeddedPostgres, EmbeddedRedis, free_port, wait_port

TEST_ISSUER = "https://admin.artstore.test"
TEST_AUDIENCE = "artstore"


# --- серверы -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL сервера PostgreSQL с правом CREATE DATABASE."""
    url = os.environ.get("ARTSTORE_TEST_DATABASE_URL")
    if url:
        yield url
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", free_port()).start()
    try:
        yield server.url
    finally:
        server.stop()


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


async def _admin_exec(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(pg_admin_url: str) -> tuple[str, str]:
    name = f"artstore_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin_exec(pg_admin_url, f'CREATE DATABASE "{name}"'))
    return name, _with_db(pg_admin_url, name)


def drop_database(pg_admin_url: str, name: str) -> None:
    asyncio.run(_admin_exec(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(pg_admin_url: str) -> Iterator[str]:
    """Своя пустая база на тест (``postgresql://…``), удаляется после."""
    name, url = create_database(pg_admin_url)
    try:
        yield url
    finally:
        drop_database(pg_admin_url, name)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("ARTSTORE_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), free_port(), persistent=False).start()
    try:
        yield server.url
    finally:
        server.stop()


class KillableRedis:
    """Свой redis-server на свободном порту (не общий сессионный): его убивают ``kill -9`` и поднимают снова на
    том же порту и с теми же данными. AOF с fsync на каждую запись — подтверждённое им переживает kill -9, как
    у Redis с AOF в проде."""

    def __init__(self, data_dir: Path) -> None:
        import shutil

        binary = shutil.which("redis-server") or shutil.which("valkey-server")
        if binary is None:
            pytest.skip("нет redis-server")
        self.binary = binary
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> KillableRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port("127.0.0.1", self.port)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def redis_namespace() -> str:
    """Префикс ключей Redis теста: тесты не видят ключей друг друга."""
    return f"artstore-test-{uuid.uuid4().hex[:10]}"


# --- токены ------------------------------------------------------------------------------------
class TokenFactory:
    """Выпускает RS256-токены как admin-module; держит набор ключей для JWKS (ротация в тестах)."""

    def __init__(self, issuer: str = TEST_ISSUER, audience: str = TEST_AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.current_kid = self.add_key()

    def add_key(self) -> str:
        kid = uuid.uuid4().hex[:16]
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return kid

    def rotate(self) -> str:
        self.current_kid = self.add_key()
        return self.current_kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            jwk.pop("key_ops", None)  # как у admin: use без key_ops (RFC 7517 §4.3)
            jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
            keys.append(jwk)
        return {"keys": keys}

    def issue(self, role: str = "ADMIN", *, sub: str | None = None, name: str = "test-client",
              ttl: int = 1800, kid: str | None = None, **extra: Any) -> str:
        now = int(time.time())
        sub = sub or f"sa-{uuid.uuid4().hex[:8]}"
        claims = {"iss": self.issuer, "aud": self.audience, "sub": sub, "client_id": sub, "role": role,
                  "name": name, "jti": uuid.uuid4().hex, "iat": now, "nbf": now, "exp": now + ttl, **extra}
        kid = kid or self.current_kid
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})

    def headers(self, role: str = "ADMIN", **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issue(role, **kw)}"}


class _JsonServer(ABC):
    """Настоящий HTTP-сервер на loopback, отвечающий JSON из ``answer()`` на любой GET/POST."""

    path = "/"

    def __init__(self) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests += 1
                body = json.dumps(outer.answer()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _reply

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @abstractmethod
    def answer(self) -> dict[str, Any]:
        """Тело ответа на очередной запрос."""

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class JWKSServer(_JsonServer):
    """JWKS фабрики токенов по HTTP (и счётчик запросов — для проверки частоты перечитывания)."""

    path = "/.well-known/jwks.json"

    def __init__(self, factory: TokenFactory) -> None:
        self.factory = factory
        super().__init__()

    def answer(self) -> dict[str, Any]:
        return self.factory.jwks()


class TokenServer(_JsonServer):
    """Вместо ``/auth/token`` admin-module: выдаёт сервисный токен ADMIN.

    ``bad`` — сколько следующих токенов выдать с чужим издателем (проверка повторного получения токена).
    """

    path = "/api/v1/auth/token"

    def __init__(self, factory: TokenFactory, *, sub: str = "sa-service", name: str = "service") -> None:
        self.factory = factory
        self.sub = sub
        self.name = name
        self.bad = 0
        super().__init__()

    def answer(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.bad > 0:
            self.bad -= 1
            extra["iss"] = "someone-else"
        token = self.factory.issue("ADMIN", sub=self.sub, name=self.name, **extra)
        return {"access_token": token, "token_type": "Bearer", "expires_in": 1800}


@pytest.fixture
def token_factory() -> TokenFactory:
    return TokenFactory()


@pytest.fixture
def jwks_server(token_factory: TokenFactory) -> Iterator[JWKSServer]:
    server = JWKSServer(token_factory)
    try:
        yield server
    finally:
        server.close()


# --- процессы и приложения -------------------------------------------------------------------------
class UvicornThread:
    """ASGI-приложение на настоящем сокете loopback в фоновом потоке (для межсервисных тестов)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn не запустился")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def read_request_body(rfile: Any, headers: Any) -> int:
    """Для заглушек на ``BaseHTTPRequestHandler``: дочитывает тело запроса (``Content-Length`` или chunked)
    и возвращает число его байт; -1 — тело оборвано (клиент не довёл запрос до конца)."""
    if headers.get("Transfer-Encoding") != "chunked":
        length = int(headers.get("Content-Length") or 0)
        data = rfile.read(length) if length else b""
        return len(data) if len(data) == length else -1
    total = 0
    while True:
        line = rfile.readline()
        if not line:
            return -1
        size = int(line.strip() or b"0", 16)
        if size == 0:
            rfile.readline()
            return total
        data = rfile.read(size + 2)
        if len(data) < size + 2:
            return -1
        total += size


def wait_http(url: str, timeout: float = 30.0, status: int = 200) -> None:
    """Ждёт, пока адрес ответит нужным статусом (процесс сервиса поднялся)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, timeout=2.0)
            if r.status_code == status:
                return
            last = r.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} не ответил {status} за {timeout} с (последнее: {last})")


__all__ = [
    "TEST_AUDIENCE",
    "TEST_ISSUER",
    "JWKSServer",
    "TokenFactory",
    "TokenServer",
    "UvicornThread",
    "create_database",
    "drop_database",
    "free_port",
    "read_request_body",
    "wait_http",
    "wait_port",
]
