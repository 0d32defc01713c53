"""Член реплицированного элемента (docs/replication.md): опись, копия с соседа (pull), ремонт, anti-entropy,
лидерство для задач «один раз на элемент».

Своего консенсуса нет: запись кворумом делает пишущий сервис, а член только сводит свою опись с описями
соседей и забирает недостающее. Копия пишется тем же протоколом WAL, что и обычная запись, sha256 сверяется
до фиксации, attr.json — соседа (его путь и версия): папка каждого члена — полная резервная копия.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncConnection

from artstore_common import (
    ElementClient,
    ElementError,
    FileMeta,
    Member,
    ProblemError,
    RepairOutcome,
    ServiceTokenProvider,
    init_series,
    try_lock,
)

from .settings import Settings

if TYPE_CHECKING:
    from .element import Element

_log = logging.getLogger("storage_element.replication")
INVENTORY_PAGE = 1000
# одновременных копий за проход anti-entropy: пустой диск наполняется быстро, но не вытесняет обычные запросы
PULL_CONCURRENCY = 4
LEADER_CHECK_S = 10.0


@dataclass(frozen=True, slots=True)
class Item:
    """Строка описи: файл или надгробие (``deleted``)."""

    file_id: str
    checksum: str
    version: int
    deleted: bool
    corrupted: bool = False
    file_size: int = 0

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Item:
        return cls(str(raw["file_id"]), str(raw.get("checksum") or ""), int(raw.get("version") or 1),
                   bool(raw.get("deleted")), bool(raw.get("corrupted")), int(raw.get("file_size") or 0))


class ReplicationMetrics:
    def __init__(self, registry: CollectorRegistry, element_id: str, member_id: str) -> None:
        labels = ["storage_element", "member"]
        self.lag = Gauge("artstore_replication_lag_seconds",
                         "Сколько член уже не получил файл, который есть у соседа (0 — догнал)", labels,
                         registry=registry).labels(element_id, member_id)
        self.under = Gauge("artstore_under_replicated_files",
                           "Файлов члена, которых нет хотя бы у одного соседа в сети", labels,
                           registry=registry).labels(element_id, member_id)
        self.repairs = Counter("artstore_replication_repairs_total", "Починки копий члена по исходу",
                               [*labels, "outcome"], registry=registry)
        init_series(self.repairs, [element_id], [member_id], RepairOutcome)
        self.element_id, self.member_id = element_id, member_id

    def repaired(self, outcome: RepairOutcome) -> None:
        self.repairs.labels(self.element_id, self.member_id, outcome).inc()


class Replication:
    def __init__(self, el: Element, settings: Settings, registry: CollectorRegistry) -> None:
        self.el = el
        self.settings = settings
        self.me = settings.member_id
        self.members = [Member(p.id, p.api_url.rstrip("/")) for p in settings.replication_peers]
        self.peers = [m for m in self.members if m.id != self.me]
        self.tokens = ServiceTokenProvider(settings.token_url, settings.client_id, settings.client_secret)
        # копия большого файла с соседа — долгое чтение: предел — на тишину между порциями, не на всё тело
        self.client = ElementClient(self.tokens, read_timeout=60.0, retries=1)
        self.metrics = ReplicationMetrics(registry, settings.element_id, self.me)
        self.lag_seconds: float | None = None
        self.under_replicated: int | None = None
        self.last_pass: dict[str, Any] | None = None
        self.leader = False
        self._missing_since: dict[str, float] = {}
        self._repairs: set[str] = set()
        self._pass_lock = asyncio.Lock()
        self._pulls = asyncio.Semaphore(PULL_CONCURRENCY)

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.tokens.close()

    def info(self) -> dict[str, Any]:
        s = self.settings
        return {"member_id": self.me, "replication": {
            "mode": s.replication_mode, "quorum": s.quorum, "interval_s": s.replication_interval,
            "peers": [{"id": m.id, "api_url": m.api_url} for m in self.members],
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
            "under_replicated": self.under_replicated, "leader": self.leader}}

    def peer(self, member_id: str) -> Member:
        for m in self.peers:
            if m.id == member_id:
                return m
        raise ProblemError(422, "unknown_member",
                           f"член {member_id!r} не из SE_REPLICATION_PEERS элемента {self.settings.element_id}; "
                           f"соседи: {[m.id for m in self.peers]}")

    # --- опись ------------------------------------------------------------------------------------
    async def inventory(self, after: str, limit: int) -> dict[str, Any]:
        """Строки кэша и надгробия одной страницей по возрастанию file_id (docs/replication.md §5)."""
        assert self.el.tombstones is not None
        rows = await self.el.cache.inventory(after, limit)
        tombs = [{**{k: t[k] for k in ("file_id", "checksum", "version")}, "file_size": 0,
                  "updated_at": t.get("deleted_at"), "deleted": True, "corrupted": False}
                 for t in self.el.tombstones.after(after, limit)]
        corrupt = self.el.corrupt
        merged = sorted([*rows, *tombs], key=lambda i: str(i["file_id"]))[:limit]
        for item in merged:
            if item["file_id"] in corrupt:
                item["corrupted"] = True
        return {"items": merged, "next": merged[-1]["file_id"] if len(merged) == limit else None}

    async def _own(self) -> dict[str, Item]:
        out: dict[str, Item] = {}
        after = ""
        while True:
            page = await self.inventory(after, INVENTORY_PAGE)
            for raw in page["items"]:
                item = Item.parse(raw)
                # файл и надгробие с одним id не живут вместе; если всё же так — правда за версией
                old = out.get(item.file_id)
                if old is None or item.version > old.version:
                    out[item.file_id] = item
            if not page["next"]:
                return out
            after = page["next"]

    async def _peer_inventory(self, m: Member) -> dict[str, Item]:
        out: dict[str, Item] = {}
        after = ""
        while True:
            resp = await self.client.request(m, "GET", "/api/v1/replication/inventory",
                                             params={"after": after, "limit": INVENTORY_PAGE})
            if resp.status != 200:
                raise resp.error(m.id)
            body = resp.body()
            for raw in body.get("items") or []:
                item = Item.parse(raw)
                out[item.file_id] = item
            nxt = body.get("next")
            if not nxt:
                return out
            after = str(nxt)

    # --- копия с соседа -------------------------------------------------------------------------------
    async def pull(self, file_id: str, source: Member, *, replace: bool = False) -> tuple[int, dict[str, Any]]:
        """Забрать файл у ``source``: 201 — скопирован, 200 — такой уже был. ``replace`` — своя копия хуже
        (испорчена или старее): сначала убирается она, без надгробия."""
        from .writer import remove, store

        el = self.el
        if el.mode == "ar":
            raise ProblemError(409, "mode_forbids_operation",
                               f"член {self.me} в режиме ar: копии принимаются в режимах edit, rw и ro")
        try:
            src = await self.client.get_attr(source, file_id)
        except ElementError as exc:
            raise ProblemError(502, "source_unavailable",
                               f"член-источник {source.id} не ответил о файле {file_id}: {exc.detail}") from exc
        if src is None:
            raise ProblemError(404, "file_not_found", f"у члена-источника {source.id} нет файла {file_id}")
        if src.get("corrupted"):
            raise ProblemError(409, "source_corrupted", f"копия файла {file_id} у члена {source.id} испорчена; "
                               "возьмите её у другого члена")
        version = int(src.get("version") or 1)
        tomb = el.tombstones.get(file_id) if el.tombstones is not None else None
        if tomb is not None and int(tomb["version"]) >= version:
            raise ProblemError(409, "file_deleted", f"файл {file_id} удалён (надгробие версии {tomb['version']}, "
                               f"у {source.id} версия {version}): удалённое не возвращается")
        local = await el.cache.get(file_id)
        if local is not None:
            bad = bool(local.get("_corrupted")) or file_id in el.corrupt
            same = local["checksum"] == src["checksum"] and int(local.get("version") or 1) == version
            if same and not bad:
                return 200, {k: v for k, v in local.items() if not k.startswith("_")}
            if not (replace or bad):
                raise ProblemError(409, "file_exists", f"у члена {self.me} уже есть файл {file_id} с другим "
                                   "содержимым или версией")
            await remove(el, file_id, check_mode=False, tombstone=None)
            el.corrupt.discard(file_id)
        meta = FileMeta.model_validate({
            **src, "compression_algorithm": (src.get("compression") or {}).get("algorithm")})
        try:
            upstream = await self.client.read_content(source, file_id)
        except ElementError as exc:
            raise ProblemError(502, "source_unavailable",
                               f"член-источник {source.id} не отдал содержимое {file_id}: {exc.detail}") from exc
        try:
            return await store(el, file_id, meta, upstream.chunks, int(src["file_size"]),
                               str(src["checksum"]), copy_of=src)
        finally:
            await upstream.aclose()

    async def _good_source(self, file_id: str, exclude: str | None = None) -> Member | None:
        """Сосед, у которого есть целая копия: проверяется его ответ о файле, а не опись прошлого прохода."""
        for m in self.peers:
            if m.id == exclude:
                continue
            try:
                attr = await self.client.get_attr(m, file_id, timeout=10)
            except ElementError:
                continue
            if attr is not None and not attr.get("corrupted"):
                return m
        return None

    # --- ремонт ------------------------------------------------------------------------------------
    def schedule_repair(self, file_id: str) -> bool:
        """Без ожидания: один ремонт файла за раз. ``False`` — уже идёт."""
        if file_id in self._repairs:
            return False
        self._repairs.add(file_id)
        self.el.spawn(self._repair(file_id))
        return True

    async def _repair(self, file_id: str) -> None:
        try:
            await self.repair(file_id)
        finally:
            self._repairs.discard(file_id)

    async def repair(self, file_id: str) -> RepairOutcome:
        """Своя копия пропала или испорчена: взять целую у соседа."""
        el = self.el
        local = await el.cache.get(file_id)
        tomb = el.tombstones.get(file_id) if el.tombstones is not None else None
        if local is not None and not local.get("_corrupted") and file_id not in el.corrupt:
            # копия на месте и цела по пометкам; ремонт по чтению мог прийти раньше, чем член сам её проверил
            return RepairOutcome.DONE
        if local is None and tomb is not None:
            return RepairOutcome.DONE  # файл удалён — чинить нечего
        source = await self._good_source(file_id)
        if source is None:
            _log.warning("ремонт %s: ни у одного соседа нет целой копии", file_id)
            self.metrics.repaired(RepairOutcome.FAILED)
            return RepairOutcome.FAILED
        try:
            await self.pull(file_id, source, replace=True)
        except (ProblemError, ElementError, OSError) as exc:
            _log.warning("ремонт %s с %s не удался: %s", file_id, source.id, getattr(exc, "detail", exc))
            self.metrics.repaired(RepairOutcome.FAILED)
            return RepairOutcome.FAILED
        _log.info("копия %s восстановлена с члена %s", file_id, source.id)
        self.metrics.repaired(RepairOutcome.DONE)
        return RepairOutcome.DONE

    # --- anti-entropy ---------------------------------------------------------------------------------
    async def run(self) -> None:
        """Проход за проходом, раз в SE_REPLICATION_INTERVAL; сбой прохода не останавливает следующие.
        Член с новым (пустым) диском делает первый проход сразу: он наполняется, не дожидаясь интервала."""
        if not self.el.fresh_disk:
            await asyncio.sleep(self.settings.replication_interval)
        while True:
            try:
                await self.anti_entropy()
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("проход anti-entropy члена %s завершился ошибкой", self.me)
            await asyncio.sleep(self.settings.replication_interval)

    async def anti_entropy(self) -> dict[str, Any]:
        async with self._pass_lock:
            return await self._anti_entropy()

    async def _anti_entropy(self) -> dict[str, Any]:
        el = self.el
        assert el.tombstones is not None
        started = time.monotonic()
        await el.tombstones.expire(self.settings.tombstone_days)
        mine = await self._own()
        views: dict[str, dict[str, Item]] = {}
        unreachable: dict[str, str] = {}
        for m in self.peers:
            try:
                views[m.id] = await self._peer_inventory(m)
            except (ElementError, ProblemError) as exc:
                unreachable[m.id] = exc.detail
            except Exception as exc:  # токен не выдан, сеть: сосед недоступен в этом проходе
                unreachable[m.id] = f"{type(exc).__name__}: {exc}"
        result: dict[str, Any] = {"pulled": 0, "deleted": 0, "conflicts": 0, "failed": 0,
                                  "peers_unreachable": unreachable}
        pulls: dict[str, tuple[Member, bool]] = {}
        for peer_id, view in views.items():
            member = self.peer(peer_id)
            for file_id, theirs in view.items():
                action = self._decide(file_id, mine.get(file_id), theirs, views)
                if action == "pull" and file_id not in pulls:
                    pulls[file_id] = (member, mine.get(file_id) is not None)
                elif action == "delete":
                    if await self._apply_tombstone(file_id, theirs, mine.get(file_id)):
                        result["deleted"] += 1
                        mine[file_id] = theirs
                elif action == "conflict":
                    result["conflicts"] += 1
        # своя испорченная копия, которую соседи держат целой, — тоже копируется заново
        for file_id, item in mine.items():
            if item.corrupted and not item.deleted and file_id not in pulls:
                holder = next((self.peer(p) for p, v in views.items()
                               if (t := v.get(file_id)) and not t.deleted and not t.corrupted
                               and t.checksum == item.checksum), None)
                if holder is not None:
                    pulls[file_id] = (holder, True)
        outcomes = await asyncio.gather(*(self._pull_one(f, m, replace) for f, (m, replace) in pulls.items()))
        now = time.monotonic()
        still_missing = set()
        for (file_id, _), ok in zip(pulls.items(), outcomes, strict=True):
            if ok:
                result["pulled"] += 1
                self._missing_since.pop(file_id, None)
            else:
                result["failed"] += 1
                still_missing.add(file_id)
                self._missing_since.setdefault(file_id, now)
        # отставание — сколько член уже знает о недостающем и не получил его (0 — догнал)
        self._missing_since = {f: t for f, t in self._missing_since.items() if f in still_missing}
        self.lag_seconds = max((now - t for t in self._missing_since.values()), default=0.0)
        self.metrics.lag.set(self.lag_seconds)
        # недореплицированные — мои файлы, которых нет хотя бы у одного соседа, ответившего в этом проходе
        have = {f for f, i in mine.items() if not i.deleted} | {f for f, ok in zip(pulls, outcomes, strict=True)
                                                                 if ok}
        under = sum(1 for f in have if any(f not in v or v[f].deleted or v[f].corrupted for v in views.values()))
        self.under_replicated = under
        self.metrics.under.set(under)
        result.update(under_replicated=under, lag_seconds=round(self.lag_seconds, 3),
                      duration_s=round(time.monotonic() - started, 3))
        self.last_pass = result
        if result["pulled"] or result["deleted"] or result["failed"] or result["conflicts"]:
            _log.info("anti-entropy члена %s: скопировано %d, удалено %d, не удалось %d, конфликтов %d",
                      self.me, result["pulled"], result["deleted"], result["failed"], result["conflicts"])
        return result

    def _decide(self, file_id: str, mine: Item | None, theirs: Item, views: dict[str, dict[str, Item]]) -> str:
        """Правила сравнения описей (docs/replication.md §5 п. 2): бо́льшая версия побеждает; при равной —
        надгробие побеждает файл; равные версии и разные sha256 — за копией большинства."""
        if theirs.deleted:
            if mine is not None and not mine.deleted and theirs.version >= mine.version:
                return "delete"
            if mine is None:
                return "delete"  # запомнить надгробие: третий член с файлом не вернёт его сюда
            return "none"
        if theirs.corrupted:
            return "none"  # сосед починит себя сам
        if mine is None:
            return "pull"
        if theirs.version > mine.version:
            return "pull"
        if theirs.version < mine.version or mine.deleted or theirs.checksum == mine.checksum:
            return "none"
        # равные версии, разные sha256: у кого большинство всех членов
        votes: dict[str, int] = {mine.checksum: 1}
        for view in views.values():
            other = view.get(file_id)
            if other is not None and not other.deleted and other.version == theirs.version:
                votes[other.checksum] = votes.get(other.checksum, 0) + 1
        if votes.get(theirs.checksum, 0) > len(self.members) // 2:
            return "pull"
        if votes.get(mine.checksum, 0) > len(self.members) // 2:
            return "none"
        _log.error("конфликт копий %s: версия %d, sha256 расходятся %s, большинства нет — решает оператор",
                   file_id, theirs.version, sorted(votes))
        self.metrics.repaired(RepairOutcome.CONFLICT)
        return "conflict"

    async def _apply_tombstone(self, file_id: str, tomb: Item, mine: Item | None) -> bool:
        from .writer import remove

        el = self.el
        assert el.tombstones is not None
        if mine is None or mine.deleted:
            await el.tombstones.put(file_id, tomb.checksum, tomb.version, "replicated")
            return False
        try:
            # удаление соседа повторяется без событий: file_deleted/file_expired уже послал тот, кто удалил
            await remove(el, file_id, check_mode=False, tombstone="replicated", tomb_version=tomb.version)
        except ProblemError:
            return False  # файла уже нет
        return True

    async def _pull_one(self, file_id: str, source: Member, replace: bool) -> bool:
        async with self._pulls:
            try:
                await self.pull(file_id, source, replace=replace)
            except ProblemError as exc:
                if exc.code == "file_deleted":
                    return True  # надгробие новее — копировать нечего
                _log.warning("копия %s с %s не удалась: %s", file_id, source.id, exc.detail)
                self.metrics.repaired(RepairOutcome.FAILED)
                return False
            except (ElementError, OSError) as exc:
                _log.warning("копия %s с %s не удалась: %s", file_id, source.id, getattr(exc, "detail", exc))
                self.metrics.repaired(RepairOutcome.FAILED)
                return False
            self.metrics.repaired(RepairOutcome.DONE)
            return True

    # --- лидерство ------------------------------------------------------------------------------------
    async def lead(self) -> None:
        """Лидер члена — тот, кто держит advisory-lock PostgreSQL ``se-leader:{element_id}`` на своём
        соединении: сроки хранения и предупреждения выполняет только он (docs/replication.md §7). Умер
        процесс или соединение — замок снят, его берёт другой член."""
        name = f"se-leader:{self.settings.element_id}"
        conn: AsyncConnection | None = None
        try:
            while True:
                try:
                    if conn is None:
                        conn = await self.el.engine.connect()
                    if not self.leader:
                        self.leader = await try_lock(conn, name)
                        await conn.commit()
                        if self.leader:
                            _log.info("член %s — лидер элемента %s", self.me, self.settings.element_id)
                    else:
                        await conn.exec_driver_sql("SELECT 1")
                        await conn.commit()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if self.leader:
                        _log.warning("член %s больше не лидер: соединение с PostgreSQL потеряно (%s)", self.me, exc)
                    self.leader = False
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await conn.close()
                        conn = None
                await asyncio.sleep(LEADER_CHECK_S)
        finally:
            self.leader = False
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
