"""Выдача, проверка, учёт и отзыв временных ссылок; каждое действие — событие аудита в потоке событий."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from artstore_common import (
    ACCOUNT_EVENT_TYPES,
    DownloadOutcome,
    EventActor,
    EventConsumer,
    EventPublisher,
    Principal,
    ProblemError,
)

from .store import Link, LinkStore
from .token import make_token, new_link_id, parse_token

_log = logging.getLogger("query.links")

LINK_PATH = "/api/v1/links/{token}"


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def holder(link_id: str) -> EventActor:
    """Кто скачивает по ссылке: токена нет, известна только сама ссылка (владелец — в data.owner_id)."""
    return EventActor("link", link_id, None)


def invalid_link() -> ProblemError:
    # Чужой подписью, испорченным токеном и несуществующим id отвечаем одинаково: не подсказываем, что угадано.
    return ProblemError(403, "link_invalid", "Ссылка недействительна: подпись не сходится или такой ссылки нет. "
                        "Попросите владельца файла выдать новую.")


class LinkService:
    def __init__(self, store: LinkStore, publisher: EventPublisher, secret: bytes, max_ttl: int) -> None:
        self.store = store
        self.publisher = publisher
        self.secret = secret
        self.max_ttl = max_ttl

    def token(self, link: Link) -> str:
        return make_token(self.secret, link.id, int(link.expires_at.timestamp()))

    async def create(self, request: Request, principal: Principal, file_id: str, file_size: int,
                     expires_in: int, max_downloads: int | None) -> tuple[Link, str]:
        if expires_in > self.max_ttl:
            raise ProblemError(422, "validation_error",
                               f"expires_in={expires_in} с больше предела {self.max_ttl} с (QUERY_LINK_MAX_TTL)")
        # срок — целые секунды: он же стоит в подписанном токене
        expires_at = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()) + expires_in, UTC)
        link = await self.store.create(new_link_id(), file_id, file_size, principal.subject, principal.username,
                                       expires_at, max_downloads)
        await self.publisher.emit("link_created", {
            "link_id": link.id, "file_id": file_id, "owner_id": link.owner_id, "owner_name": link.owner_name,
            "expires_at": link.expires_at.isoformat(), "max_downloads": max_downloads, "ip": client_ip(request)},
            actor=EventActor.of(principal))
        return link, self.token(link)

    async def open(self, request: Request, token: str) -> Link:
        """Ссылка, по которой можно отдавать; иначе 403 (подделана, отозвана) или 410 (истекла, исчерпана)."""
        parsed = parse_token(self.secret, token)
        if parsed is None:
            raise invalid_link()
        if parsed.exp <= datetime.now(UTC).timestamp():
            await self._refused(request, parsed.link_id, None, "link_expired")
            raise ProblemError(410, "link_expired", f"Срок ссылки истёк "
                               f"{datetime.fromtimestamp(parsed.exp, UTC).isoformat()}. Попросите новую.")
        link = await self.store.get(parsed.link_id)
        if link is None or int(link.expires_at.timestamp()) != parsed.exp:
            raise invalid_link()
        if link.revoked_at is not None:
            await self._refused(request, link.id, link, "link_revoked")
            raise ProblemError(403, "link_revoked", f"Ссылка отозвана {link.revoked_at.isoformat()}.")
        if link.exhausted:
            await self._refused(request, link.id, link, "link_exhausted")
            raise exhausted(link)
        return link

    async def _refused(self, request: Request, link_id: str, link: Link | None, code: str) -> None:
        data: dict[str, Any] = {"link_id": link_id, "outcome": code, "ip": client_ip(request),
                                "user_agent": request.headers.get("user-agent")}
        if link is not None:
            data |= {"file_id": link.file_id, "owner_id": link.owner_id}
        await self.publisher.emit("link_used", data, actor=holder(link_id))

    async def revoke(self, request: Request, link: Link, principal: Principal) -> Link:
        revoked = await self.store.revoke(link.id, principal.username)
        await self.publisher.emit("link_revoked", {
            "link_ids": [link.id], "file_id": link.file_id, "owner_id": link.owner_id, "by": principal.username,
            "ip": client_ip(request)}, actor=EventActor.of(principal))
        return revoked or link

    async def revoke_owner(self, request: Request, owner_id: str, principal: Principal) -> list[str]:
        ids = await self.store.revoke_owner(owner_id, principal.username)
        await self.publisher.emit("link_revoked", {
            "link_ids": ids, "owner_id": owner_id, "by": principal.username, "all_of_account": True,
            "ip": client_ip(request)}, actor=EventActor.of(principal))
        return ids


    async def revoke_account(self, event: dict[str, Any]) -> list[str]:
        """Аккаунт удалён или приостановлен (событие admin): его ссылки больше не работают. Повтор события
        ничего не меняет — отозванные уже не действуют, новое событие ``link_revoked`` не выходит."""
        data = event.get("data")
        owner_id = str(data.get("account_id") or "") if isinstance(data, dict) else ""
        if not owner_id:
            return []
        actor = EventActor.from_dict(event.get("actor")) or EventActor.system("admin-module")
        by = actor.name or actor.type
        ids = await self.store.revoke_owner(owner_id, by)
        if ids:
            _log.info("аккаунт %s: %s — отозвано ссылок: %d", owner_id, event.get("type"), len(ids))
            await self.publisher.emit("link_revoked", {
                "link_ids": ids, "owner_id": owner_id, "by": by, "all_of_account": True,
                "reason": event.get("type")}, actor=actor)
        return ids


class AccountEvents(EventConsumer):
    """Группа ``query-links`` потока событий: удаление и приостановка аккаунта отзывают его ссылки («хотя бы
    раз»: событие подтверждается после отзыва; query лежал — прочитает, когда поднимется)."""

    GROUP = "query-links"

    def __init__(self, redis_url: str, namespace: str, links: LinkService) -> None:
        super().__init__(redis_url, namespace, self.GROUP, name="account-events")
        self.links = links

    async def handle_events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            if event.get("type") in ACCOUNT_EVENT_TYPES:
                await self.links.revoke_account(event)


def exhausted(link: Link) -> ProblemError:
    return ProblemError(410, "link_exhausted",
                        f"Ссылка исчерпана: файл уже отдан {link.max_downloads} раз(а) (max_downloads). "
                        "Докачка остатка по-прежнему возможна, пока хватает лимита; иначе попросите новую ссылку.")


class LinkGate:
    """Учёт одного скачивания по ссылке: резерв длины ответа до отдачи, возврат неотданного и событие после."""

    def __init__(self, service: LinkService, request: Request, link: Link) -> None:
        self.service = service
        self.request = request
        self.link = link
        self.reserved = 0

    async def admit(self, status: int, length: int) -> None:
        reserved = await self.service.store.reserve(self.link.id, length)
        if reserved is None:
            current = await self.service.store.get(self.link.id)
            if current is not None and current.revoked_at is not None:  # отозвали между проверкой и отдачей
                raise ProblemError(403, "link_revoked", f"Ссылка отозвана {current.revoked_at.isoformat()}.")
            await self.service._refused(self.request, self.link.id, self.link, "link_exhausted")
            raise exhausted(current or self.link)
        self.reserved = length

    async def done(self, status: int, outcome: DownloadOutcome, sent: int) -> None:
        # Обрыв — только если ушло меньше ответа: uvicorn сообщает http.disconnect и после полного ответа.
        try:
            await self.service.store.settle(self.link.id, self.reserved, sent,
                                            aborted=outcome is DownloadOutcome.ABORTED and sent < self.reserved)
        except Exception:  # учёт не должен ронять уже отданный ответ; резерв останется потраченным
            _log.exception("не удалось учесть скачивание по ссылке %s", self.link.id)
        await self.service.publisher.emit("link_used", {
            "link_id": self.link.id, "file_id": self.link.file_id, "owner_id": self.link.owner_id,
            "status": status, "outcome": str(outcome), "range": self.request.headers.get("range"),
            "bytes_sent": sent, "ip": client_ip(self.request), "user_agent": self.request.headers.get("user-agent")},
            actor=holder(self.link.id))


