"""Реплицированный элемент глазами клиента (docs/replication.md §3–§4): один логический элемент из N членов.

Запись — тройником: один входящий поток раздаётся всем доступным членам сразу через ограниченные очереди
(тело целиком в памяти не бывает), член, который не разбирает очередь ``stall_timeout``, выбывает из этой
записи. Ответ — когда кворум (``sync``) или один член (``async``) зафиксировал файл; ниже кворума — откат
(``retract``) у успевших и 503 ``replication_quorum_failed`` с исходом каждого члена.

Чтение — у одного члена с переходом к следующему до первого байта ответа: член без файла, с испорченной
копией или молчащий незаметен клиенту, а члену с плохой копией уходит ``repair`` (без ожидания).
Своего консенсуса нет: расхождения, оставшиеся после записи, лечит anti-entropy на самих членах.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from multidict import CIMultiDict, CIMultiDictProxy

from ._circuit import CircuitState
from ._element_client import (
    API,
    QUORUM_FAILED,
    ElementError,
    Member,
    StorageElement,
    Upstream,
    file_headers,
    is_element_failure,
)
from ._events import EventActor
from ._files import FileMeta, segment

if TYPE_CHECKING:
    from ._element_client import ElementClient

_log = logging.getLogger("artstore.replicas")
T = TypeVar("T")

# один и тот же ремонт (член, файл) не чаще раза в минуту: горячий файл без копии на члене читают часто
REPAIR_INTERVAL = 60.0
# pull большого файла член выполняет до ответа; ожидание растёт с размером (не меньше 16 МиБ/с)
PULL_RATE = 16 * 1024 * 1024
_EOF = object()


@dataclass(slots=True)
class WriteReadiness:
    """Члены, готовые принять запись: ``ready`` — в сети и предохранитель замкнут, ``probing`` — в сети,
    предохранитель полуоткрыт (пропустит одну пробу); ``reasons`` — почему не готов каждый из остальных."""

    need: int
    ready: list[Member] = field(default_factory=list)
    probing: list[Member] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def writable(self) -> bool:
        return len(self.ready) + len(self.probing) >= self.need

    def describe(self) -> str:
        return "; ".join(f"{mid}: {why}" for mid, why in self.reasons.items())


@dataclass(slots=True)
class Outcome:
    """Что ответил член на запись (``status`` 0 — не ответил вовсе)."""

    member: Member
    status: int
    code: str
    detail: str = ""
    attr: dict[str, Any] | None = None
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def committed(self) -> bool:
        return self.status in (200, 201) and self.attr is not None

    def describe(self) -> str:
        if self.committed:
            return f"{self.member.id}: записал ({self.status})"
        head = f"HTTP {self.status} {self.code}" if self.status else self.code
        return f"{self.member.id}: {head}" + (f" — {self.detail}" if self.detail else "")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.member.id, "status": self.status, "code": "ok" if self.committed else self.code,
                "detail": self.detail}


class _Tee:
    """Один источник тела → очередь на каждого члена. Источник читается один раз; очередной кусок уходит
    во все очереди (один и тот же объект bytes, без копий), прежде чем читается следующий."""

    def __init__(self, source: AsyncIterable[bytes], members: list[Member], *, depth: int,
                 stall_timeout: float) -> None:
        self.source = source
        self.members = {m.id: m for m in members}
        self.queues: dict[str, asyncio.Queue[object]] = {m.id: asyncio.Queue(depth) for m in members}
        self.stall_timeout = stall_timeout
        self.tasks: dict[str, asyncio.Task[Outcome]] = {}
        self.cut: dict[str, Outcome] = {}  # член → исход, с которым он выбыл из записи (задача отменена)
        self.started: set[str] = set()  # члены, начавшие забирать тело
        self.error: BaseException | None = None  # ошибка источника: вина клиента, не членов

    async def stream(self, member: Member) -> AsyncIterator[bytes]:
        queue = self.queues[member.id]
        self.started.add(member.id)
        while True:
            item = await queue.get()
            if item is _EOF:
                return
            yield item  # type: ignore[misc]

    def _live(self) -> list[str]:
        return [mid for mid, task in self.tasks.items() if not task.done() and mid not in self.cut]

    def _drop(self, member: Member, code: str, reason: str) -> None:
        self.cut[member.id] = Outcome(member, 0, code, reason)
        self.tasks[member.id].cancel()

    async def _offer(self, item: object) -> None:
        waiting = []
        for mid in self._live():
            try:
                self.queues[mid].put_nowait(item)
            except asyncio.QueueFull:
                waiting.append(mid)
        if waiting:
            await asyncio.gather(*(self._wait_put(mid, item) for mid in waiting))

    async def _wait_put(self, member_id: str, item: object) -> None:
        put = asyncio.ensure_future(self.queues[member_id].put(item))
        task = self.tasks[member_id]
        # пока член не начал забирать тело, он ждёт соединения — это ограничено тайм-аутами транспорта
        timeout = self.stall_timeout if member_id in self.started else None
        done, _ = await asyncio.wait({put, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if put in done:
            return
        put.cancel()
        if not task.done():  # член жив, но не берёт данные: остальные не должны его ждать
            self._drop(self.members[member_id], "stalled",
                       f"не принимал данные {self.stall_timeout:g} с — исключён из записи")

    async def run(self) -> None:
        try:
            async for chunk in self.source:
                if not self._live():
                    return  # писать больше некому: остаток тела не читаем
                if chunk:
                    await self._offer(chunk)
        except Exception as exc:
            # ни один член не должен зафиксировать обрывок: их запросы обрываются, ошибка — вызывающему
            self.error = exc
            for mid in self._live():
                self._drop(self.members[mid], "aborted", "источник тела оборвался")
            return
        await self._offer(_EOF)


class Replicas:
    """Операции ``ElementClient`` над реплицированным элементом; транспорт к члену — сам клиент."""

    def __init__(self, client: ElementClient, *, stall_timeout: float, depth: int) -> None:
        self.client = client
        self.stall_timeout = stall_timeout
        self.depth = depth
        self._turn: dict[str, itertools.count[int]] = {}
        self._repaired: dict[tuple[str, str], float] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # --- кого спрашивать ----------------------------------------------------------------------------
    def read_order(self, el: StorageElement) -> list[Member]:
        """Члены в сети с замкнутым предохранителем — по кругу (нагрузка делится), за ними остальные:
        снимок мог отстать, и последний шанс прочитать файл лучше, чем 503."""
        members = list(el.members)
        turn = self._turn.setdefault(el.id, itertools.count())
        start = next(turn) % len(members)
        rotated = members[start:] + members[:start]
        return sorted(rotated, key=lambda m: (m.status != "online",
                                              self.client.breaker(m.id).state is not CircuitState.CLOSED))

    def readiness(self, el: StorageElement) -> WriteReadiness:
        out = WriteReadiness(need=el.write_quorum)
        for m in el.members:
            state = self.client.breaker(m.id).state
            if m.status != "online":
                out.reasons[m.id] = f"{m.status} по данным admin-module"
            elif state is CircuitState.OPEN:
                out.reasons[m.id] = "недоступен — после сбоев исключён на время (предохранитель разомкнут)"
            elif state is CircuitState.HALF_OPEN:
                out.probing.append(m)
            else:
                out.ready.append(m)
        return out

    def _missing_is_final(self, el: StorageElement, missing: int) -> bool:
        """Нет файла у ``missing`` членов, остальные не ответили: подтверждённый файл есть хотя бы у
        ``write_quorum`` членов, значит, если ответивших «нет» больше N − кворум, файла нет и у молчащих."""
        return missing > len(el.members) - el.write_quorum

    # --- фоновые задачи -----------------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def repair(self, member: Member, file_id: str) -> None:
        """``POST /replication/repair`` члену с пропавшей или плохой копией — без ожидания ответа."""
        now = time.monotonic()
        key = (member.id, file_id)
        if self._repaired.get(key, 0.0) > now:
            return
        if len(self._repaired) > 10_000:
            self._repaired = {k: v for k, v in self._repaired.items() if v > now}
        self._repaired[key] = now + REPAIR_INTERVAL
        self._spawn(self._repair(member, file_id), f"repair-{member.id}-{file_id}")

    async def _repair(self, member: Member, file_id: str) -> None:
        try:
            resp = await self.client.request(member, "POST", f"{API}/replication/repair", json={"file_id": file_id})
        except ElementError as exc:
            _log.warning("ремонт %s на %s не заказан: %s", file_id, member.id, exc.detail)
            return
        if resp.status >= 300:
            _log.warning("ремонт %s на %s не заказан: HTTP %s %s", file_id, member.id, resp.status, resp.text[:200])

    def _repair_all(self, members: Iterable[Member], file_id: str) -> None:
        for m in members:
            self.repair(m, file_id)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # --- чтение -------------------------------------------------------------------------------------
    def _unavailable(self, el: StorageElement, what: str, failed: list[tuple[Member, str]],
                     missing: list[Member]) -> ElementError:
        parts = [f"{m.id}: {why}" for m, why in failed] + [f"{m.id}: файла нет" for m in missing]
        return ElementError(0, "upstream_unavailable",
                            f"реплицированный элемент {el.id}: {what} ни у одного члена ({'; '.join(parts)})",
                            element_id=el.id)

    async def first(self, el: StorageElement, call: Callable[[Member], Awaitable[T]]) -> T:
        """Вызов у первого члена, который ответит по существу (поиск, подсказки, /info)."""
        failed: list[tuple[Member, str]] = []
        for m in self.read_order(el):
            try:
                return await call(m)
            except ElementError as exc:
                if not exc.unavailable:
                    raise
                failed.append((m, exc.detail))
        raise self._unavailable(el, "нет ответа", failed, [])

    async def get_attr(self, el: StorageElement, file_id: str, *, timeout: float | None) -> dict[str, Any] | None:
        missing: list[Member] = []
        failed: list[tuple[Member, str]] = []
        corrupted: dict[str, Any] | None = None
        for m in self.read_order(el):
            try:
                attr = await self.client.get_attr(m, file_id, timeout=timeout)
            except ElementError as exc:
                if not exc.unavailable:
                    raise
                failed.append((m, exc.detail))
                continue
            if attr is None:
                missing.append(m)
            elif attr.get("corrupted"):
                # атрибуты верны, а данные — нет: ищем члена с целой копией, эту — чинить
                self.repair(m, file_id)
                corrupted = corrupted or attr
            else:
                self._repair_all(missing, file_id)
                return attr
        if corrupted is not None:  # целой копии нет нигде — честно отдаём «повреждён»
            self._repair_all(missing, file_id)
            return corrupted
        if self._missing_is_final(el, len(missing)):
            return None
        raise self._unavailable(el, "атрибуты файла не получены", failed, missing)

    async def open_content(self, el: StorageElement, file_id: str, *, method: str, raw: bool,
                           headers: dict[str, str] | None, read_timeout: float | None) -> Upstream:
        missing: list[Member] = []
        failed: list[tuple[Member, str]] = []
        absent: Upstream | None = None  # первый ответ 404 — вернуть, если файла нет нигде
        kept: Upstream | None = None  # первый 409 (испорчен, в архиве) — если лучше не найдётся
        try:
            for m in self.read_order(el):
                try:
                    up = await self.client.open_content(m, file_id, method=method, raw=raw, headers=headers,
                                                        read_timeout=read_timeout)
                except ElementError as exc:
                    failed.append((m, exc.detail))
                    continue
                if up.status == 404:
                    missing.append(m)
                    buffered, _ = await _buffer(up)
                    absent = absent or buffered
                elif is_element_failure(up.status):
                    failed.append((m, f"HTTP {up.status}"))
                    await up.aclose()
                elif up.status == 409:
                    buffered, body = await _buffer(up)
                    if _code(body) == "file_corrupted":
                        self.repair(m, file_id)
                    kept = kept or buffered
                else:
                    self._repair_all(missing, file_id)
                    return up
            if kept is not None:
                self._repair_all(missing, file_id)
                result, kept = kept, None
                return result
            if absent is not None and self._missing_is_final(el, len(missing)):
                result, absent = absent, None
                return result
            raise self._unavailable(el, "содержимое не получено", failed, missing)
        finally:
            for spare in (absent, kept):
                if spare is not None:
                    await spare.aclose()

    async def restore(self, el: StorageElement, file_id: str, *, actor: EventActor | None = None) -> dict[str, Any]:
        """Возврат из холодного хранения — у каждого члена (у каждого своя копия); успех — хотя бы у одного."""
        results = await asyncio.gather(*(self.client.restore(m, file_id, actor=actor) for m in el.members
                                         if m.status != "offline"), return_exceptions=True)
        errors: list[ElementError] = []
        for r in results:
            if isinstance(r, dict):
                return r
            if isinstance(r, ElementError):
                errors.append(r)
            elif isinstance(r, BaseException):
                raise r
        answer = next((e for e in errors if not e.unavailable), None)
        if answer is not None:
            raise answer
        raise ElementError(0, "upstream_unavailable", f"реплицированный элемент {el.id}: ни один член не принял "
                           "восстановление (" + "; ".join(e.detail for e in errors) + ")", element_id=el.id)

    # --- запись -------------------------------------------------------------------------------------
    def _quorum_error(self, el: StorageElement, outcomes: list[Outcome], *, retracted: bool) -> ElementError:
        need = el.write_quorum
        place = {m.id: i for i, m in enumerate(el.members)}
        outcomes = sorted(outcomes, key=lambda o: place.get(o.member.id, len(place)))
        done = sum(1 for o in outcomes if o.committed)
        tail = ("; успевшие члены откатили запись" if retracted else "") + ". Повторите позже."
        detail = (f"запись на реплицированный элемент {el.id} не набрала кворум: зафиксировали {done} из "
                  f"{len(el.members)} членов, нужно {need} ({'; '.join(o.describe() for o in outcomes)}){tail}")
        return ElementError(503, QUORUM_FAILED, detail, element_id=el.id, body={
            "storage_element_id": el.id, "quorum": need, "committed": done,
            "members": [o.as_dict() for o in outcomes]})

    def _skipped(self, el: StorageElement, ready: WriteReadiness) -> list[Outcome]:
        return [Outcome(m, 0, "skipped", ready.reasons[m.id]) for m in el.members if m.id in ready.reasons]

    def _same_answer(self, outcomes: list[Outcome]) -> ElementError | None:
        """Все члены ответили одним и тем же отказом по существу (нет места, режим, sha256 не сошёлся...):
        это ответ элемента, а не сбой репликации — он и уходит вызывающему."""
        tried = [o for o in outcomes if o.code != "skipped"]
        if not tried or any(o.committed or o.status == 0 or is_element_failure(o.status) for o in tried):
            return None
        if len({(o.status, o.code) for o in tried}) != 1:
            return None
        o = tried[0]
        return ElementError(o.status, o.code, o.detail, element_id=o.member.id, body=o.body)

    async def retract(self, members: Iterable[Member], file_id: str) -> None:
        """Откат неподтверждённой записи у членов, которые её зафиксировали (лучшее, что можно сделать:
        недоступный для отката член получит надгробие от соседей)."""

        async def one(m: Member) -> None:
            try:
                await self.client.retract(m, file_id)
            except ElementError as exc:
                _log.warning("откат %s на %s не удался: %s", file_id, m.id, exc.detail)

        await asyncio.gather(*(one(m) for m in members))

    async def put_file(self, el: StorageElement, file_id: str, meta: FileMeta | dict[str, Any],
                       content: bytes | AsyncIterable[bytes], *, length: int | None,
                       expected_sha256: str | None) -> dict[str, Any]:
        ready = self.readiness(el)
        targets = ready.ready + ready.probing
        if not ready.writable:
            raise self._quorum_error(el, self._skipped(el, ready), retracted=False)
        # время создания ставит пишущий: из него члены строят путь и срок — attr.json у всех одинаковые
        headers = file_headers(_with_created_at(meta), length, expected_sha256)
        path = f"{API}/files/{segment(file_id)}"
        tee: _Tee | None = None
        if isinstance(content, bytes):
            tasks = {m.id: asyncio.ensure_future(self._send(m, path, content, headers)) for m in targets}
        else:
            tee = _Tee(content, targets, depth=self.depth, stall_timeout=self.stall_timeout)
            tasks = {m.id: asyncio.ensure_future(self._send(m, path, tee.stream(m), headers)) for m in targets}
            tee.tasks = tasks
        feeder = asyncio.ensure_future(tee.run()) if tee is not None else None
        good = await self._collect(el, file_id, targets, tasks, feeder, tee, self._skipped(el, ready),
                                   need=ready.need)
        return next(o.attr for o in good if o.attr is not None)

    async def _send(self, m: Member, path: str, body: bytes | AsyncIterable[bytes],
                    headers: dict[str, str]) -> Outcome:
        try:
            resp = await self.client.send_body(m, "PUT", path, body, headers=headers)
        except ElementError as exc:
            return Outcome(m, exc.status, exc.code, exc.detail)
        attr = resp.body()
        if resp.status in (200, 201) and attr:
            return Outcome(m, resp.status, "ok", attr=attr)
        err = resp.error(m.id)
        return Outcome(m, err.status, err.code, err.detail, body=err.body)

    def _result(self, m: Member, task: asyncio.Task[Outcome], tee: _Tee | None) -> Outcome:
        if task.cancelled():
            cut = tee.cut.get(m.id) if tee is not None else None
            if cut is None:
                return Outcome(m, 0, "cancelled", "запрос отменён")
            if cut.code == "stalled":
                self.client.breaker(m.id).record_failure()  # завис — это сбой члена, а не ничья
            return cut
        exc = task.exception()
        if exc is not None:
            raise exc
        return task.result()

    async def _collect(self, el: StorageElement, file_id: str, targets: list[Member],
                       tasks: dict[str, asyncio.Task[Outcome]], feeder: asyncio.Future[None] | None,
                       tee: _Tee | None, outcomes: list[Outcome], *, need: int,
                       committed: Iterable[Outcome] = ()) -> list[Outcome]:
        """Ждёт ответы членов: кворум — ответ сразу, остальные дописывают в фоне; ниже кворума — откат у
        успевших (только у ответивших 201: 200 значит, что файл был у члена и до этой записи)."""
        by_task = {task: m for m in targets if (task := tasks.get(m.id)) is not None}
        pending: set[asyncio.Task[Outcome]] = set(by_task)
        outcomes = [*committed, *outcomes]
        try:
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                outcomes += [self._result(by_task[task], task, tee) for task in finished]
                if tee is not None and tee.error is not None:
                    continue  # источник оборвался: дождаться, пока все члены оборвут запись
                good = [o for o in outcomes if o.committed]
                if len(good) >= need:
                    for task in pending:
                        self._spawn(self._finish(by_task[task], task, file_id, tee), f"replica-{file_id}")
                    if feeder is not None and not feeder.done():
                        self._spawn(feeder, f"tee-{file_id}")  # доводит конец тела до медленных членов
                    return good
        except BaseException:
            # вызывающего отменили посреди записи: запросы членов обрываются, а успевшие не должны
            # остаться с неподтверждённым файлом — откат в фоне
            for task in pending:
                task.cancel()
            if feeder is not None:
                feeder.cancel()
            fresh = [o.member for o in outcomes if o.status == 201]
            if fresh:
                self._spawn(self.retract(fresh, file_id), f"retract-{file_id}")
            raise
        if feeder is not None:
            feeder.cancel()  # все члены ответили, кворума нет: остаток тела читать незачем
            await asyncio.gather(feeder, return_exceptions=True)
        fresh = [o.member for o in outcomes if o.status == 201]
        if fresh:
            await self.retract(fresh, file_id)
        if tee is not None and tee.error is not None:
            raise tee.error
        same = self._same_answer(outcomes)
        if same is not None:
            raise same
        raise self._quorum_error(el, outcomes, retracted=bool(fresh))

    async def _finish(self, m: Member, task: asyncio.Task[Outcome], file_id: str, tee: _Tee | None) -> None:
        """Член, не успевший к кворуму, дописывает в фоне; его неудача — в журнал (догонит anti-entropy)."""
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        try:
            outcome = self._result(m, task, tee)
        except Exception as exc:
            outcome = Outcome(m, 0, "error", f"{type(exc).__name__}: {exc}")
        if not outcome.committed:
            _log.warning("копия %s на члене %s не записана (%s); её восполнит anti-entropy", file_id, m.id,
                         outcome.describe())

    async def delete_file(self, el: StorageElement, file_id: str) -> bool:
        """Удаление — всем доступным членам (каждый пишет надгробие, остальным его доставит anti-entropy);
        успех — когда файла нет у кворума."""
        ready = self.readiness(el)
        targets = ready.ready + ready.probing
        outcomes = self._skipped(el, ready)
        results = await asyncio.gather(*(self._delete_one(m, file_id) for m in targets))
        outcomes += results
        gone = [o for o in results if o.status in (204, 404)]
        if len(gone) >= ready.need:
            return any(o.status == 204 for o in gone)
        same = self._same_answer(results)
        if same is not None:
            raise same
        raise self._quorum_error(el, outcomes, retracted=False)

    async def _delete_one(self, m: Member, file_id: str) -> Outcome:
        try:
            deleted = await self.client.delete_file(m, file_id)
        except ElementError as exc:
            return Outcome(m, exc.status, exc.code, exc.detail, body=exc.body)
        return Outcome(m, 204 if deleted else 404, "deleted" if deleted else "absent")

    # --- tus: частичная загрузка на одном члене, затем pull остальным ---------------------------------
    async def create_upload(self, el: StorageElement, upload_id: str, length: int, meta: FileMeta | dict[str, Any],
                            expires_in: int) -> dict[str, Any]:
        ready = self.readiness(el)
        if not ready.writable:
            raise self._quorum_error(el, self._skipped(el, ready), retracted=False)
        order = [m for m in self.read_order(el) if m in ready.ready] + ready.probing
        last: ElementError | None = None
        for m in order:
            try:
                body = await self.client.create_upload(m, upload_id, length, meta, expires_in)
            except ElementError as exc:
                if not exc.retry_elsewhere:
                    raise
                last = exc
                continue
            return {**body, "member": {"id": m.id, "api_url": m.api_url}}
        assert last is not None
        raise last

    async def replicate(self, el: StorageElement, file_id: str, source: Member, *, size: int | None
                        ) -> list[str]:
        ready = self.readiness(el)
        targets = [m for m in ready.ready + ready.probing if m.id != source.id]
        timeout = self.client.read_timeout + (size or 0) / PULL_RATE
        tasks = {m.id: asyncio.ensure_future(self._pull(m, file_id, source.id, timeout)) for m in targets}
        # источник уже зафиксировал файл (commit): он — первый голос кворума и первый кандидат на откат
        own = Outcome(source, 201, "ok", attr={"file_id": file_id})
        skipped = [o for o in self._skipped(el, ready) if o.member.id != source.id]
        good = await self._collect(el, file_id, targets, tasks, None, None, skipped, need=ready.need,
                                   committed=[own])
        return [o.member.id for o in good]

    async def _pull(self, m: Member, file_id: str, source: str, timeout: float) -> Outcome:
        try:
            resp = await self.client.request(m, "POST", f"{API}/replication/pull",
                                             json={"file_id": file_id, "source": source}, timeout=timeout)
        except ElementError as exc:
            return Outcome(m, exc.status, exc.code, exc.detail)
        body = resp.body()
        if resp.status in (200, 201):
            return Outcome(m, resp.status, "ok", attr=body or {"file_id": file_id})
        err = resp.error(m.id)
        return Outcome(m, err.status, err.code, err.detail, body=err.body)


def _with_created_at(meta: FileMeta | dict[str, Any]) -> FileMeta | dict[str, Any]:
    now = datetime.now(UTC)
    if isinstance(meta, FileMeta):
        return meta if meta.created_at is not None else meta.model_copy(update={"created_at": now})
    return meta if meta.get("created_at") else {**meta, "created_at": now.isoformat()}


async def _buffer(up: Upstream) -> tuple[Upstream, bytes]:
    """Небольшой ответ отказа (404/409 problem+json): прочитать, вернуть соединение и сохранить ответ."""
    try:
        body = await up.read()
    except ElementError:
        body = b""
    finally:
        await up.aclose()

    async def chunks() -> AsyncIterator[bytes]:
        if body:
            yield body

    async def read_all() -> bytes:
        return body

    return Upstream(up.status, CIMultiDictProxy(CIMultiDict(up.headers)), chunks(), AsyncExitStack(),
                    read_all), body


def _code(body: bytes) -> str:
    """``code`` из problem+json ('' — тела нет, например у HEAD, или оно не JSON)."""
    try:
        value = json.loads(body) if body else {}
    except ValueError:
        return ""
    return str(value.get("code") or "") if isinstance(value, dict) else ""
