"""/api/v1/service-accounts/{id}/webhooks: вебхуки аккаунта и журнал их доставок."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response

from ..accounts import service as accounts
from ..audit import service as audit
from ..deps import AdminActor, ReaderPrincipal, SessionDep
from ..pagination import Page, PageDep
from . import repository, service
from .schemas import DeliveryOut, WebhookCreate, WebhookOut, WebhookUpdate, WebhookWithSecret

router = APIRouter(prefix="/service-accounts/{account_id}/webhooks", tags=["webhooks"])


@router.get("", response_model=Page[WebhookOut], summary="Вебхуки аккаунта")
@router.get("/", response_model=Page[WebhookOut], include_in_schema=False)
async def list_webhooks(account_id: str, _: ReaderPrincipal, session: SessionDep, page: PageDep) -> Page[WebhookOut]:
    await accounts.get_or_404(session, account_id)
    rows, total = await repository.page(session, account_id, limit=page.limit, offset=page.offset)
    return Page(items=[service.to_out(w) for w in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("", response_model=WebhookWithSecret, status_code=201, summary="Создать вебхук (секрет — один раз)")
@router.post("/", response_model=WebhookWithSecret, status_code=201, include_in_schema=False)
async def create_webhook(account_id: str, body: WebhookCreate, actor: AdminActor, session: SessionDep,
                         request: Request) -> WebhookWithSecret:
    await accounts.get_or_404(session, account_id)
    webhook, secret = await service.create(session, request.app.state.box, account_id, body)
    await audit.record(session, actor, "webhook.create", target_type="webhook", target_id=webhook.id,
                       details={"account_id": account_id, "url": webhook.url, "events": webhook.events})
    return WebhookWithSecret(**service.to_out(webhook).model_dump(), secret=secret)


@router.get("/{webhook_id}", response_model=WebhookOut, summary="Вебхук")
async def get_webhook(account_id: str, webhook_id: str, _: ReaderPrincipal, session: SessionDep) -> WebhookOut:
    return service.to_out(await service.get_or_404(session, account_id, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut, summary="Изменить вебхук")
async def update_webhook(account_id: str, webhook_id: str, body: WebhookUpdate, actor: AdminActor,
                         session: SessionDep) -> WebhookOut:
    webhook = await service.get_or_404(session, account_id, webhook_id)
    changes = service.update(webhook, body)
    await audit.record(session, actor, "webhook.update", target_type="webhook", target_id=webhook.id,
                       details={"changes": changes})
    return service.to_out(webhook)


@router.delete("/{webhook_id}", status_code=204, summary="Удалить вебхук")
async def delete_webhook(account_id: str, webhook_id: str, actor: AdminActor, session: SessionDep) -> Response:
    webhook = await service.get_or_404(session, account_id, webhook_id)
    await repository.delete(session, webhook)
    await audit.record(session, actor, "webhook.delete", target_type="webhook", target_id=webhook_id,
                       details={"account_id": account_id, "url": webhook.url})
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut], summary="Доставки вебхука (новые сверху)")
async def list_deliveries(
    account_id: str, webhook_id: str, _: ReaderPrincipal, session: SessionDep, page: PageDep,
    status: Literal["pending", "delivered", "failed"] | None = None,
) -> Page[DeliveryOut]:
    await service.get_or_404(session, account_id, webhook_id)
    rows, total = await repository.deliveries_page(session, webhook_id, limit=page.limit, offset=page.offset,
                                                   status=status)
    return Page(items=[service.delivery_out(d) for d in rows], total=total, limit=page.limit, offset=page.offset)
