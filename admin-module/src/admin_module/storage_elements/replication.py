"""Реплицированные элементы в реестре: члены из /info, сводное состояние логического элемента, его запись
в снимке discovery (docs/replication.md §1, §2, §8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from artstore_common import ElementStatus, ProblemError

from ..db import StorageElement, StorageElementMember
from .schemas import MemberOut, ReplicationOut, valid_api_url

# Режимы идут только вперёд (rw → ro → ar): разошедшиеся члены — это недоведённая смена режима, и
# логический элемент уже там, куда ушёл самый продвинутый член (туда же admin доведёт остальных).
_MODE_RANK = {"edit": 0, "rw": 0, "ro": 1, "ar": 2}


@dataclass(frozen=True, slots=True)
class Peer:
    id: str
    api_url: str


@dataclass(frozen=True, slots=True)
class Identity:
    """Кем назвался член: id логического элемента, свой id и все члены (включая себя) по порядку."""

    element_id: str
    member_id: str
    peers: tuple[Peer, ...]


def is_replicated(info: dict[str, Any]) -> bool:
    """Член реплицированного элемента, а не автономный: есть member_id и режим репликации не «none»."""
    block = info.get("replication")
    return bool(info.get("member_id")) and isinstance(block, dict) and block.get("mode") not in (None, "", "none")


def identity(info: dict[str, Any], api_url: str) -> Identity | None:
    """``None`` — автономный элемент; кривой блок replication — 502 с тем, что в нём не так."""
    if not is_replicated(info):
        return None
    where = f"{api_url}/api/v1/info"
    member_id = str(info["member_id"])
    raw = info["replication"].get("peers")
    if not isinstance(raw, list) or not raw:
        raise ProblemError(502, "element_bad_info", f"{where}: член {member_id} не перечислил членов "
                           "(replication.peers) — проверьте SE_REPLICATION_PEERS")
    peers: list[Peer] = []
    for item in raw:
        if not isinstance(item, dict) or not item.get("id") or not isinstance(item.get("api_url"), str):
            raise ProblemError(502, "element_bad_info", f"{where}: в replication.peers запись {item!r} без id или "
                               "api_url")
        try:
            url = valid_api_url(item["api_url"])
        except ValueError as exc:
            raise ProblemError(502, "element_bad_info", f"{where}: адрес члена {item['id']} «{item['api_url']}» "
                               f"негоден: {exc}") from exc
        peers.append(Peer(str(item["id"]), str(url)))
    ids = [p.id for p in peers]
    if len(set(ids)) != len(ids):
        raise ProblemError(502, "element_bad_info", f"{where}: id членов в replication.peers повторяются: {ids}")
    if member_id not in ids:
        raise ProblemError(502, "element_bad_info", f"{where}: член {member_id} не указан среди своих членов "
                           f"{ids} — SE_REPLICATION_PEERS должен перечислять всех, включая себя")
    return Identity(str(info["id"]), member_id, tuple(peers))


def element_status(info: dict[str, Any]) -> ElementStatus:
    """Статус из /info элемента или члена: всё, кроме «в порядке», — degraded (отвечает, но с оговорками)."""
    raw = str(info.get("status") or "ok").lower()
    return ElementStatus.ONLINE if raw in ("ok", "online", "healthy", "ready") else ElementStatus.DEGRADED


def apply_member_info(e: StorageElement, m: StorageElementMember, info: dict[str, Any], now: datetime) -> None:
    """Итог опроса члена. Чужой процесс по адресу члена — член не в сети: его сведения в сводку не идут."""
    m.updated_at = now
    if str(info.get("id")) != e.id or str(info.get("member_id") or "") != m.member_id:
        m.status = ElementStatus.OFFLINE
        m.last_error = (f"по адресу {m.api_url} отвечает {info.get('member_id') or 'автономный элемент'} "
                        f"элемента {info.get('id')}, а не член {m.member_id} элемента {e.id}")
        return
    m.info = info
    m.last_seen_at = now
    if is_replicated(info):
        m.status, m.last_error = element_status(info), None
    else:
        m.status = ElementStatus.DEGRADED
        m.last_error = f"член {m.member_id} больше не сообщает о репликации (SE_REPLICATION_MODE)"


def member_unreachable(m: StorageElementMember, detail: str, now: datetime) -> None:
    m.status = ElementStatus.OFFLINE
    m.last_error = detail
    m.updated_at = now


def upsert_members(e: StorageElement, ident: Identity, registered_url: str, now: datetime) -> list[str]:
    """Члены из peers зарегистрированного члена: новые добавляются, известным обновляются адрес и порядок.
    Члены, которых в peers нет, не удаляются: их убирает оператор (DELETE …/members/{id}). → id новых."""
    known = {m.member_id: m for m in e.members}
    added = []
    for position, peer in enumerate(ident.peers):
        # адрес, по которому admin только что достучался до члена, надёжнее того, что член пишет о себе
        url = registered_url if peer.id == ident.member_id else peer.api_url
        m = known.get(peer.id)
        if m is None:
            m = StorageElementMember(member_id=peer.id, api_url=url, position=position, status=ElementStatus.OFFLINE,
                                     registered_at=now, updated_at=now)
            e.members.append(m)
            added.append(peer.id)
        else:
            m.api_url, m.position, m.updated_at = url, position, now
    # известные, но не названные члены — после названных, в прежнем порядке
    for extra, m in enumerate(sorted((m for m in e.members if m.member_id not in {p.id for p in ident.peers}),
                                     key=lambda m: m.position)):
        m.position = len(ident.peers) + extra
    renumber(e)
    return added


def renumber(e: StorageElement) -> None:
    """Порядок членов без пропусков; адрес логического элемента — адрес первого (§2)."""
    e.members.sort(key=lambda m: m.position)
    for position, m in enumerate(e.members):
        m.position = position
    if e.members:
        e.api_url = e.members[0].api_url


def as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _block(m: StorageElementMember) -> dict[str, Any]:
    block = (m.info or {}).get("replication")
    return block if isinstance(block, dict) else {}


def reachable(e: StorageElement) -> list[StorageElementMember]:
    return [m for m in e.members if m.status != ElementStatus.OFFLINE]


def aggregate(e: StorageElement, now: datetime) -> None:
    """Логический элемент из своих членов (§2): online — все в сети, degraded — хоть один, offline — ни одного;
    свободное место и ёмкость — наименьшие среди членов в сети (файл должен лечь на каждого)."""
    e.updated_at = now
    alive = reachable(e)
    problems = [f"член {m.member_id}: {m.last_error}" for m in e.members if m.last_error]
    if not alive:
        e.status = ElementStatus.OFFLINE
        e.last_error = "; ".join(problems) or "ни один член не в сети"
        return
    e.status = (ElementStatus.ONLINE if all(m.status == ElementStatus.ONLINE for m in e.members)
                else ElementStatus.DEGRADED)
    infos = [m.info or {} for m in alive]
    primary = infos[0]

    def values(key: str) -> list[int]:
        return [v for v in (as_int(i.get(key)) for i in infos) if v is not None]

    modes = {str(i["mode"]) for i in infos if i.get("mode")}
    if modes:
        e.mode = max(modes, key=lambda mode: _MODE_RANK.get(mode, 0))
        if len(modes) > 1:
            problems.append(f"члены в разных режимах ({', '.join(sorted(modes))}): повторите смену режима")
    e.capacity_bytes = min(values("capacity_bytes"), default=None)
    e.free_bytes = min(values("free_bytes"), default=None)
    # копия на каждом члене: занято и файлов — сколько у самого полного
    e.used_bytes = max(values("used_bytes"), default=None)
    e.file_count = max(values("file_count"), default=None)
    e.storage_type = primary.get("storage_type") or e.storage_type
    e.retention_days = as_int(primary.get("retention_days"))
    e.version = str(primary["version"]) if primary.get("version") is not None else None
    e.info = primary
    e.last_seen_at = max((m.last_seen_at for m in alive if m.last_seen_at), default=e.last_seen_at)
    e.last_error = "; ".join(problems) or None


def under_replicated(e: StorageElement) -> int | None:
    counts = [v for v in (as_int(_block(m).get("under_replicated")) for m in reachable(e)) if v is not None]
    return max(counts, default=None)


def _settings(e: StorageElement) -> dict[str, Any]:
    """Режим и кворум репликации — от первого члена в сети (настроены одинаково), иначе по последнему опросу."""
    for m in [*reachable(e), *e.members]:
        block = _block(m)
        if block:
            return block
    return {}


def _member_view(m: StorageElementMember) -> tuple[float | None, int | None]:
    if m.status == ElementStatus.OFFLINE:
        return None, None
    block = _block(m)
    return _number(block.get("lag_seconds")), as_int(block.get("under_replicated"))


def snapshot_block(e: StorageElement) -> dict[str, Any]:
    block = _settings(e)
    members = []
    for m in e.members:
        lag, under = _member_view(m)
        members.append({"id": m.member_id, "api_url": m.api_url, "status": m.status, "lag_seconds": lag,
                        "under_replicated": under})
    return {"mode": block.get("mode"), "quorum": as_int(block.get("quorum")), "members": members}


def to_out(e: StorageElement) -> ReplicationOut:
    block = _settings(e)
    members = []
    for m in e.members:
        lag, under = _member_view(m)
        info = m.info or {}
        members.append(MemberOut(
            id=m.member_id, api_url=m.api_url, status=m.status, mode=info.get("mode"), lag_seconds=lag,
            under_replicated=under, file_count=as_int(info.get("file_count")),
            free_bytes=as_int(info.get("free_bytes")),
            version=str(info["version"]) if info.get("version") is not None else None, last_seen_at=m.last_seen_at,
            last_error=m.last_error))
    return ReplicationOut(mode=block.get("mode"), quorum=as_int(block.get("quorum")),
                          interval_s=_number(block.get("interval_s")), under_replicated=under_replicated(e),
                          members=members)
