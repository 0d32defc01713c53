"""Клиент API элемента хранения (docs/internal-api.md) — один на все сервисы, которые говорят с элементами.

Владеет пулом соединений (aiohttp: разбор HTTP на C; httpx/httpcore на том же пути тратил ~2 мс CPU на
запрос), сервисным токеном и его обновлением при 401, повторами идемпотентных запросов и предохранителем
на элемент. Политика предохранителя одна: сбоем элемента считается только то, что сделал сам элемент —
он не ответил (соединение, тайм-аут) или ответил 5xx, кроме 507 («нет места» — ответ по существу).
Ошибка клиента, чьё тело мы пересылаем (оборвал загрузку, прислал больше разрешённого), элемент не
касается: раньше шесть оборванных загрузок размыкали предохранитель здорового элемента.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

import aiohttp
from multidict import CIMultiDictProxy
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ._circuit import CircuitBreaker, CircuitState
from ._errors import ProblemError
from ._events import ACTOR_HEADER, EventActor
from ._files import FileMeta, encode_meta, segment
from ._search import ElementSearchPage, SearchRequest, Suggestion
from ._tasks import stop_task

if TYPE_CHECKING:
    from ._replicas import WriteReadiness

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# запись на реплицированный элемент не набрала кворум членов (docs/replication.md §3)
QUORUM_FAILED = "replication_quorum_failed"
RETRY_STATUSES = frozenset({502, 503, 504})
API = "/api/v1"
# проба поднявшегося адресата: живой процесс отвечает на /health/live сразу
PROBE_TIMEOUT = 3.0

_log = logging.getLogger(__name__)


def is_element_failure(status: int) -> bool:
    """Ответ элемента, который говорит о его собственном сбое (для предохранителя и повторов)."""
    return status >= 500 and status != 507


class ElementTarget(Protocol):
    """Куда слать запрос: id элемента (ключ предохранителя и метрик) и базовый адрес его API."""

    @property
    def id(self) -> str: ...

    @property
    def api_url(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Member:
    """Член реплицированного элемента (docs/replication.md §2): свой процесс, свой адрес, свой предохранитель."""

    id: str
    api_url: str
    status: str = "online"

    @classmethod
    def from_snapshot(cls, raw: dict[str, Any]) -> Member | None:
        if not raw.get("id") or not raw.get("api_url"):
            return None
        return cls(id=str(raw["id"]), api_url=str(raw["api_url"]).rstrip("/"),
                   status=str(raw.get("status") or "online"))


REPLICATION_MODES = ("sync", "async")


@dataclass(frozen=True, slots=True)
class StorageElement:
    """Элемент из снимка discovery (docs/internal-api.md, «Снимок discovery»).

    У реплицированного элемента ``members`` непусты: запросы ``ElementClient`` к нему идут членам
    (docs/replication.md), ``api_url`` — адрес первого члена для старых читателей снимка."""

    id: str
    api_url: str
    mode: str = ""
    status: str = "online"
    priority: int = 100
    free_bytes: int | None = None
    name: str = ""
    members: tuple[Member, ...] = ()
    replication_mode: str = "none"
    quorum: int = 1

    @property
    def replicated(self) -> bool:
        return bool(self.members)

    @property
    def write_quorum(self) -> int:
        """Сколько членов должны зафиксировать запись до ответа: кворум в ``sync``, один в ``async``."""
        return self.quorum if self.members and self.replication_mode == "sync" else 1

    @property
    def targets(self) -> tuple[ElementTarget, ...]:
        """Адресаты запросов и ключи предохранителей: члены или сам элемент."""
        return self.members or (self,)

    @classmethod
    def from_snapshot(cls, raw: dict[str, Any]) -> StorageElement | None:
        """``None`` — запись без id или адреса: такой элемент никому не нужен."""
        if not raw.get("id") or not raw.get("api_url"):
            return None
        free = raw.get("free_bytes")
        priority = raw.get("priority")
        rep = raw.get("replication")
        rep = rep if isinstance(rep, dict) else {}
        listed = rep.get("members")
        members = tuple(m for m in (Member.from_snapshot(x) for x in listed if isinstance(x, dict))
                        if m is not None) if isinstance(listed, list) else ()
        replication_mode, quorum = "none", 1
        if members:
            # незнакомый режим читаем как sync: лишнее ожидание кворума лучше потерянной копии
            replication_mode = str(rep["mode"]) if rep.get("mode") in REPLICATION_MODES else "sync"
            q = rep.get("quorum")
            quorum = q if isinstance(q, int) and 1 <= q <= len(members) else len(members) // 2 + 1
        return cls(id=str(raw["id"]), api_url=str(raw["api_url"]).rstrip("/"), mode=str(raw.get("mode") or ""),
                   status=str(raw.get("status") or "online"),
                   priority=priority if isinstance(priority, int) else 100,
                   free_bytes=free if isinstance(free, int) else None, name=str(raw.get("name") or ""),
                   members=members, replication_mode=replication_mode, quorum=quorum)


class TokenSource(Protocol):
    async def headers(self) -> dict[str, str]: ...

    def invalidate(self) -> None: ...


class ElementError(Exception):
    """Элемент ответил отказом (4xx/5xx) или не ответил вовсе (``status`` = 0)."""

    def __init__(self, status: int, code: str, detail: str, *, element_id: str | None = None,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.element_id = element_id
        self.body = body or {}

    @property
    def unavailable(self) -> bool:
        """Элемент не ответил по существу: не отвечает, предохранитель разомкнут или 5xx."""
        return self.status == 0 or is_element_failure(self.status)

    @property
    def retry_elsewhere(self) -> bool:
        """Отказ самого элемента (нет места, сменился режим, сбой) — другой элемент может принять."""
        return self.unavailable or self.status == 507 or self.code == "mode_forbids_operation"

    def to_problem(self) -> ProblemError:
        if self.code == QUORUM_FAILED:
            return ProblemError(503, self.code, self.detail, headers={"Retry-After": "5"}, extra={
                k: v for k, v in self.body.items() if k not in ("type", "title", "status", "detail", "code")})
        if self.unavailable:
            return ProblemError(502, "upstream_failed", f"элемент хранения не завершил операцию: {self.detail}")
        return ProblemError(self.status, self.code, self.detail, extra={
            k: v for k, v in self.body.items() if k not in ("type", "title", "status", "detail", "code")})


@dataclass(slots=True)
class ElementResponse:
    status: int
    headers: CIMultiDictProxy[str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def body(self) -> dict[str, Any]:
        """JSON-объект ответа или пустой словарь (не JSON, пусто, не объект)."""
        try:
            value = self.json() if self.content else None
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def error(self, element_id: str | None = None) -> ElementError:
        body = self.body()
        return ElementError(self.status, str(body.get("code") or "element_error"),
                            str(body.get("detail") or f"HTTP {self.status}"), element_id=element_id, body=body)


@dataclass
class Upstream:
    """Потоковый ответ элемента: статус, заголовки (без учёта регистра), тело порциями и закрытие."""

    status: int
    headers: CIMultiDictProxy[str]
    chunks: AsyncIterator[bytes]
    _stack: AsyncExitStack
    # всё тело одним вызовом транспорта (aiohttp собирает его без итерации по порциям в Python)
    _read_all: Callable[[], Awaitable[bytes]]

    async def read(self) -> bytes:
        return await self._read_all()

    async def aclose(self) -> None:
        await self._stack.aclose()


class _TrackedBody:
    """Тело запроса из чужого источника: помним, если ошибка случилась в нём, а не у элемента."""

    def __init__(self, source: AsyncIterable[bytes]) -> None:
        self.source = source
        self.error: BaseException | None = None

    async def iterate(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.source:
                yield chunk
        except BaseException as exc:
            self.error = exc
            raise


# UnicodeError — адрес, который не переводится в IDNA (``http://a..b``): до элемента не дойти, как и без сети
_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError, UnicodeError)


class ElementClient:
    def __init__(
        self,
        tokens: TokenSource | None = None,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        pool_timeout: float | None = None,
        retries: int = 2,
        backoff: float = 0.1,
        failure_threshold: int = 5,
        reset_timeout: float = 15.0,
        max_connections: int = 100,
        stall_timeout: float = 10.0,
        tee_depth: int = 8,
    ) -> None:
        from ._replicas import Replicas  # модуль реплик сам опирается на этот: импорт здесь разрывает круг

        self.tokens = tokens
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_timeout = pool_timeout if pool_timeout is not None else read_timeout
        self.retries = retries
        self.backoff = backoff
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.max_connections = max_connections
        self.breakers: dict[str, CircuitBreaker] = {}
        self._session: aiohttp.ClientSession | None = None
        self._prober: asyncio.Task[None] | None = None
        # реплицированный элемент: тройник записи, переход на соседа при чтении, ремонт (docs/replication.md)
        self.replicas = Replicas(self, stall_timeout=stall_timeout, depth=tee_depth)

    # --- транспорт ------------------------------------------------------------------------------
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # keep-alive короче, чем у uvicorn (5 с): иначе запрос может уйти в соединение, которое сервер как
            # раз закрывает, и неидемпотентный запрос не повторить. Предел соединений — на каждый элемент, а не
            # общий: зависший элемент не займёт весь пул. Прокси окружения не читаем: трафик внутренний, а
            # trust_env разбирал бы окружение на каждом запросе.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=self.max_connections, keepalive_timeout=4),
                auto_decompress=False,
            )
        return self._session

    def breaker(self, element_id: str) -> CircuitBreaker:
        b = self.breakers.get(element_id)
        if b is None:
            b = CircuitBreaker(element_id, failure_threshold=self.failure_threshold, reset_timeout=self.reset_timeout)
            self.breakers[element_id] = b
        return b

    def _timeout(self, read: float | None, *, bounded: bool) -> aiohttp.ClientTimeout:
        sock_read = read if read is not None else self.read_timeout
        # connect у aiohttp — ожидание соединения из пула вместе с установкой, sock_connect — только TCP
        return aiohttp.ClientTimeout(total=sock_read * 3 + 1 if bounded else None, connect=self.pool_timeout,
                                     sock_connect=self.connect_timeout, sock_read=sock_read)

    async def _auth(self) -> dict[str, str]:
        if self.tokens is None:
            return {}
        try:
            return await self.tokens.headers()
        except ProblemError as exc:  # admin не выдал токен: элемент тут ни при чём
            raise ElementError(0, exc.code, exc.detail) from exc
        except _NETWORK_ERRORS as exc:
            raise ElementError(0, "service_auth_failed", f"сервисный токен не получен: {exc}") from exc

    def _unauthorized(self, status: int, attempt_401: bool) -> bool:
        """401 элемента — токен устарел (например, сменились ключи admin): новый токен и ещё одна попытка."""
        if status == 401 and self.tokens is not None and not attempt_401:
            self.tokens.invalidate()
            return True
        return False

    async def _pause(self, attempt: int) -> None:
        await asyncio.sleep(self.backoff * (2**attempt) * (0.5 + random.random()))

    async def request(self, el: ElementTarget, method: str, path: str, *, params: Any = None, json: Any = None,
                      data: bytes | None = None, headers: dict[str, str] | None = None,
                      timeout: float | None = None) -> ElementResponse:
        """Запрос с небольшим телом. Повторы — только идемпотентных методов; ответ 4xx/5xx возвращается как
        есть (решает вызывающий), сетевой сбой и разомкнутый предохранитель — ``ElementError`` со статусом 0."""
        method = method.upper()
        breaker = self.breaker(el.id)
        attempts = 1 + (self.retries if method in IDEMPOTENT else 0)
        kw: dict[str, Any] = {"allow_redirects": False, "timeout": self._timeout(timeout, bounded=True)}
        if params is not None:
            kw["params"] = _query_pairs(params)
        if json is not None:
            kw["json"] = json
        if data is not None:
            kw["data"] = data
        url = el.api_url.rstrip("/") + path
        last: BaseException | None = None
        retried_401 = False
        attempt = 0
        while attempt < attempts:
            if not breaker.allow():
                raise _circuit_open(el)
            all_headers = {**await self._auth(), **(headers or {})}
            try:
                async with self.session().request(method, url, headers=all_headers, **kw) as r:
                    resp = ElementResponse(r.status, r.headers, await r.read())
            except _NETWORK_ERRORS as exc:
                breaker.record_failure()
                last = exc
            except BaseException:
                breaker.record_neutral()
                raise
            else:
                if self._unauthorized(resp.status, retried_401):
                    breaker.record_success()
                    retried_401 = True
                    continue
                if is_element_failure(resp.status):
                    breaker.record_failure()
                    if resp.status in RETRY_STATUSES and attempt + 1 < attempts:
                        await self._pause(attempt)
                        attempt += 1
                        continue
                    return resp
                breaker.record_success()
                return resp
            attempt += 1
            if attempt < attempts:
                await self._pause(attempt - 1)
        raise ElementError(0, "upstream_unavailable", f"элемент {el.id} ({el.api_url}) не отвечает: "
                           f"{type(last).__name__}: {last}", element_id=el.id)

    async def send_body(self, el: ElementTarget, method: str, path: str, body: bytes | AsyncIterable[bytes], *,
                        headers: dict[str, str]) -> ElementResponse:
        """Запрос с телом файла. Потоковое тело не повторяется (его не перечитать); если оборвался источник
        тела (клиент), его ошибка выходит как есть и элементу в вину не ставится."""
        breaker = self.breaker(el.id)
        url = el.api_url.rstrip("/") + path
        timeout = self._timeout(None, bounded=False)
        retried_401 = False
        while True:
            if not breaker.allow():
                raise _circuit_open(el)
            tracked = None if isinstance(body, bytes) else _TrackedBody(body)
            data: Any = body if tracked is None else tracked.iterate()
            all_headers = {**await self._auth(), **headers}
            try:
                async with self.session().request(method, url, data=data, headers=all_headers, timeout=timeout,
                                                  allow_redirects=False) as r:
                    resp = ElementResponse(r.status, r.headers, await r.read())
            except BaseException as exc:
                if tracked is not None and tracked.error is not None:
                    breaker.record_neutral()
                    raise tracked.error from None
                if isinstance(exc, _NETWORK_ERRORS):
                    breaker.record_failure()
                    raise ElementError(0, "upstream_failed", f"элемент {el.id}: {type(exc).__name__}: {exc}",
                                       element_id=el.id) from exc
                breaker.record_neutral()
                raise
            if tracked is None and self._unauthorized(resp.status, retried_401):
                breaker.record_success()
                retried_401 = True
                continue
            (breaker.record_failure if is_element_failure(resp.status) else breaker.record_success)()
            return resp

    async def open(self, el: ElementTarget, method: str, path: str, *, headers: dict[str, str] | None = None,
                   params: Any = None, read_timeout: float | None = None) -> Upstream:
        """Потоковый ответ (скачивание): без повторов, кроме одного после 401; тело — крупными порциями."""
        breaker = self.breaker(el.id)
        url = el.api_url.rstrip("/") + path
        timeout = self._timeout(read_timeout, bounded=False)
        retried_401 = False
        while True:
            if not breaker.allow():
                raise _circuit_open(el)
            all_headers = {**await self._auth(), **(headers or {})}
            stack = AsyncExitStack()
            try:
                resp = await stack.enter_async_context(self.session().request(
                    method, url, headers=all_headers, params=_query_pairs(params) if params is not None else None,
                    allow_redirects=False, timeout=timeout, read_bufsize=1 << 20))
            except _NETWORK_ERRORS as exc:
                breaker.record_failure()
                await stack.aclose()
                raise ElementError(0, "upstream_unavailable", f"элемент {el.id} не отвечает: "
                                   f"{type(exc).__name__} {exc}", element_id=el.id) from exc
            except BaseException:
                breaker.record_neutral()
                await stack.aclose()
                raise
            if self._unauthorized(resp.status, retried_401):
                breaker.record_success()
                retried_401 = True
                await stack.aclose()
                continue
            (breaker.record_failure if is_element_failure(resp.status) else breaker.record_success)()
            return Upstream(resp.status, resp.headers, _body_chunks(el, resp), stack,
                            functools.partial(_body, el, resp))

    # --- возврат поднявшихся адресатов -------------------------------------------------------------
    async def probe_half_open(self, targets: Iterable[ElementTarget]) -> list[str]:
        """Один пробный ``GET /health/live`` каждому адресату с полуоткрытым предохранителем → id тех, кого
        проба вернула в строй. Ответ по существу закрывает предохранитель, сбой снова размыкает его."""
        async def one(t: ElementTarget) -> str | None:
            try:
                await self.request(t, "GET", "/health/live", timeout=PROBE_TIMEOUT)
            except ElementError:
                return None
            return t.id if self.breaker(t.id).state is CircuitState.CLOSED else None

        half_open = {t.id: t for t in targets if self.breaker(t.id).state is CircuitState.HALF_OPEN}
        back = await asyncio.gather(*(one(t) for t in half_open.values()))
        return [i for i in back if i is not None]

    def start_probing(self, targets: Callable[[], Iterable[ElementTarget]], interval: float = 2.0) -> None:
        """Проба полуоткрытых предохранителей в фоне, раз в ``interval`` секунд. Полуоткрытый закрывается
        только удачным запросом, а размещение и чтение предпочитают адресатов с закрытым: пока здоровых
        хватает, такой запрос может не прийти никогда — элемент (член) давно поднялся, а его обходят."""
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    back = await self.probe_half_open(targets())
                except Exception:  # сбой одной пробы не должен останавливать следующие
                    _log.exception("проба предохранителей не удалась")
                    continue
                if back:
                    _log.info("предохранители снова закрыты после пробы: %s", ", ".join(back))

        if self._prober is None:
            self._prober = asyncio.create_task(loop(), name="breaker-probe")

    async def aclose(self) -> None:
        await stop_task(self._prober)
        self._prober = None
        await self.replicas.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- операции API элемента ----------------------------------------------------------------------
    async def _json(self, el: ElementTarget, method: str, path: str, ok: tuple[int, ...] = (200,),
                    missing: bool = False, **kw: Any) -> dict[str, Any] | None:
        resp = await self.request(el, method, path, **kw)
        if missing and resp.status == 404:
            return None
        if resp.status not in ok:
            raise resp.error(el.id)
        return resp.body()

    async def info(self, el: ElementTarget, *, timeout: float | None = None) -> dict[str, Any]:
        if _replicated(el):
            return await self.replicas.first(el, lambda m: self.info(m, timeout=timeout))
        return await self._json(el, "GET", f"{API}/info", timeout=timeout) or {}

    async def get_attr(self, el: ElementTarget, file_id: str, *, timeout: float | None = None
                       ) -> dict[str, Any] | None:
        """attr.json файла (+ ``corrupted``); ``None`` — файла на элементе нет."""
        if _replicated(el):
            return await self.replicas.get_attr(el, file_id, timeout=timeout)
        return await self._json(el, "GET", f"{API}/files/{segment(file_id)}", missing=True, timeout=timeout)

    async def put_file(self, el: ElementTarget, file_id: str, meta: FileMeta | dict[str, Any],
                       content: bytes | AsyncIterable[bytes], *, length: int | None = None,
                       expected_sha256: str | None = None) -> dict[str, Any]:
        if _replicated(el):
            return await self.replicas.put_file(el, file_id, meta, content, length=length,
                                                expected_sha256=expected_sha256)
        headers = file_headers(meta, length, expected_sha256)
        resp = await self.send_body(el, "PUT", f"{API}/files/{segment(file_id)}", content, headers=headers)
        body = resp.body()
        if resp.status not in (200, 201) or not body:
            raise resp.error(el.id)
        return body

    async def delete_file(self, el: ElementTarget, file_id: str) -> bool:
        """``False`` — файла там уже не было (повтор удаления безопасен)."""
        if _replicated(el):
            return await self.replicas.delete_file(el, file_id)
        resp = await self.request(el, "DELETE", f"{API}/files/{segment(file_id)}")
        if resp.status == 404:
            return False
        if resp.status not in (200, 204):
            raise resp.error(el.id)
        return True

    async def open_content(self, el: ElementTarget, file_id: str, *, method: str = "GET", raw: bool = False,
                           headers: dict[str, str] | None = None, read_timeout: float | None = None) -> Upstream:
        """Поток содержимого (любой статус — решает вызывающий: 206, 304, 404, 416 ...)."""
        if _replicated(el):
            return await self.replicas.open_content(el, file_id, method=method, raw=raw, headers=headers,
                                                    read_timeout=read_timeout)
        return await self.open(el, method, f"{API}/files/{segment(file_id)}/content", headers=headers,
                               params={"raw": "true"} if raw else None, read_timeout=read_timeout)

    async def read_content(self, el: ElementTarget, file_id: str) -> Upstream:
        """Поток исходных байт файла для копирования; не 200 — ``ElementError``."""
        upstream = await self.open_content(el, file_id)
        if upstream.status != 200:
            try:
                resp = ElementResponse(upstream.status, upstream.headers, await upstream.read())
            finally:
                await upstream.aclose()
            raise resp.error(el.id)
        return upstream

    async def restore(self, el: ElementTarget, file_id: str, *, actor: EventActor | None = None) -> dict[str, Any]:
        """``actor`` — от чьего имени (пользователь query): элемент ставит его в событие file_restored."""
        if _replicated(el):
            return await self.replicas.restore(el, file_id, actor=actor)
        headers = {ACTOR_HEADER: actor.encode()} if actor is not None else None
        return await self._json(el, "POST", f"{API}/files/{segment(file_id)}/restore", ok=(200, 202),
                                headers=headers) or {}

    async def search(self, el: ElementTarget, req: SearchRequest, *, offset: int, limit: int,
                     timeout: float | None = None) -> ElementSearchPage:
        if _replicated(el):
            return await self.replicas.first(el, lambda m: self.search(m, req, offset=offset, limit=limit,
                                                                        timeout=timeout))
        data = await self._json(el, "POST", f"{API}/search", json=req.for_element(offset, limit), timeout=timeout)
        try:
            return ElementSearchPage.model_validate(data)
        except ValueError as exc:
            raise ElementError(502, "bad_element_answer", f"элемент {el.id}: неожиданный ответ поиска",
                               element_id=el.id) from exc

    async def suggest(self, el: ElementTarget, prefix: str, limit: int, *, timeout: float | None = None
                      ) -> list[Suggestion]:
        if _replicated(el):
            return await self.replicas.first(el, lambda m: self.suggest(m, prefix, limit, timeout=timeout))
        data = await self._json(el, "GET", f"{API}/search/suggest", params={"prefix": prefix, "limit": limit},
                                timeout=timeout) or {}
        items = data.get("suggestions")
        out: list[Suggestion] = []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("text"):
                try:
                    out.append(Suggestion.model_validate(item))
                except ValueError:
                    continue
        return out

    # --- частичные загрузки (tus на стороне элемента) --------------------------------------------------
    async def create_upload(self, el: ElementTarget, upload_id: str, length: int, meta: FileMeta | dict[str, Any],
                            expires_in: int) -> dict[str, Any]:
        """Частичная загрузка. У реплицированного элемента она живёт на одном члене: ответ тогда несёт
        ``member: {id, api_url}`` — туда идут PATCH и commit, а после commit — ``replicate``."""
        if _replicated(el):
            return await self.replicas.create_upload(el, upload_id, length, meta, expires_in)
        meta_obj = meta.model_dump(mode="json", exclude_none=True) if isinstance(meta, FileMeta) else meta
        body = {"upload_id": upload_id, "file_id": upload_id, "length": length, "meta": meta_obj,
                "expires_in": expires_in}
        return await self._json(el, "POST", f"{API}/uploads", ok=(200, 201), json=body) or {}

    async def upload_state(self, el: ElementTarget, upload_id: str) -> dict[str, Any] | None:
        return await self._json(el, "GET", f"{API}/uploads/{segment(upload_id)}", missing=True)

    async def patch_upload(self, el: ElementTarget, upload_id: str, offset: int,
                           content: bytes | AsyncIterable[bytes], length: int | None = None) -> int:
        headers = {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        if length is not None:
            headers["Content-Length"] = str(length)
        resp = await self.send_body(el, "PATCH", f"{API}/uploads/{segment(upload_id)}", content, headers=headers)
        if resp.status not in (200, 204):
            raise resp.error(el.id)
        new_offset = resp.headers.get("Upload-Offset")
        if new_offset:
            return int(new_offset)
        return int(resp.body().get("offset") or 0)

    async def commit_upload(self, el: ElementTarget, upload_id: str) -> dict[str, Any]:
        return await self._json(el, "POST", f"{API}/uploads/{segment(upload_id)}/commit", ok=(200, 201)) or {}

    async def retract(self, el: ElementTarget, file_id: str) -> bool:
        """Откат неподтверждённой записи (``POST /files/{id}/retract``, только у члена); ``False`` — файла
        там уже нет."""
        resp = await self.request(el, "POST", f"{API}/files/{segment(file_id)}/retract")
        if resp.status == 404 and resp.body().get("code") == "file_not_found":
            return False
        if resp.status not in (200, 204):
            raise resp.error(el.id)
        return True

    async def replicate(self, el: StorageElement, file_id: str, source: Member, *, size: int | None = None
                        ) -> list[str]:
        """Файл, зафиксированный на члене ``source`` (tus), — остальным членам через ``pull``; в ``sync``
        ждёт кворума (ниже — откат и 503 ``replication_quorum_failed``). Ответ — члены с копией к этому
        моменту; остальные дописывают в фоне."""
        return await self.replicas.replicate(el, file_id, source, size=size)

    def write_readiness(self, el: StorageElement) -> WriteReadiness:
        """Какие члены сейчас примут запись и почему не примут остальные (размещение, сообщения)."""
        return self.replicas.readiness(el)

    async def delete_upload(self, el: ElementTarget, upload_id: str) -> None:
        resp = await self.request(el, "DELETE", f"{API}/uploads/{segment(upload_id)}")
        if resp.status not in (200, 204, 404):
            raise resp.error(el.id)


def file_headers(meta: FileMeta | dict[str, Any], length: int | None, expected_sha256: str | None
                 ) -> dict[str, str]:
    """Заголовки ``PUT /files/{id}``: метаданные, длина (если известна), ожидаемый sha256."""
    headers = {"X-Artstore-Meta": encode_meta(meta), "Content-Type": "application/octet-stream"}
    if length is not None:
        headers["Content-Length"] = str(length)
    if expected_sha256:
        headers["X-Expected-SHA256"] = expected_sha256
    return headers


def _replicated(el: ElementTarget) -> TypeGuard[StorageElement]:
    # только элемент из снимка discovery с членами; чужие объекты с атрибутом members (реестр admin) — нет
    return isinstance(el, StorageElement) and bool(el.members)


def _cut(el: ElementTarget, exc: BaseException) -> ElementError:
    # элемент оборвал тело ответа (например, sha256 не сошёлся на лету) или соединение пропало
    return ElementError(0, "upstream_failed", f"элемент {el.id} оборвал ответ: {type(exc).__name__} {exc}",
                        element_id=el.id)


async def _body_chunks(el: ElementTarget, resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_any():
            yield chunk
    except _NETWORK_ERRORS as exc:
        raise _cut(el, exc) from exc


async def _body(el: ElementTarget, resp: aiohttp.ClientResponse) -> bytes:
    try:
        return await resp.read()
    except _NETWORK_ERRORS as exc:
        raise _cut(el, exc) from exc


def _circuit_open(el: ElementTarget) -> ElementError:
    return ElementError(0, "circuit_open", f"элемент {el.id} временно исключён (предохранитель разомкнут после "
                        "сбоев); повторите позже", element_id=el.id)


def _query_pairs(params: Any) -> list[tuple[str, str]]:
    """Параметры адреса: списки — повтором ключа, bool — true/false."""

    def text(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return "" if v is None else str(v)

    items = params.items() if isinstance(params, dict) else params
    out: list[tuple[str, str]] = []
    for k, v in items:
        for one in (v if isinstance(v, list | tuple) else [v]):
            out.append((str(k), text(one)))
    return out


class BreakerCollector(Collector):
    """``artstore_circuit_breaker_open{storage_element="<id>"}`` — одна метка и один смысл во всех сервисах:
    1, пока предохранитель к элементу разомкнут. Значения читаются в момент опроса."""

    def __init__(self, client: ElementClient, element_ids: Callable[[], Iterable[str]]) -> None:
        self.client = client
        self.element_ids = element_ids

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("artstore_circuit_breaker_open",
                                   "1 — предохранитель к элементу хранения разомкнут", labels=["storage_element"])
        for element_id in sorted({*self.element_ids(), *self.client.breakers}):
            breaker = self.client.breakers.get(element_id)
            family.add_metric([element_id], 1.0 if breaker is not None and breaker.state is CircuitState.OPEN
                              else 0.0)
        yield family

