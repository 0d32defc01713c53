"""Маршруты временных ссылок: выдать (по токену), скачать (без токена), перечислить и отозвать."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from artstore_common import FileId, Principal, ProblemError, Role, require_roles, roles

from ..files.serve import DOWNLOAD_OPENAPI, DOWNLOAD_RESPONSES, serve_download
from ..ratelimit import limited_readers
from .service import LINK_PATH, LinkGate, LinkService
from .store import Link

files_router = APIRouter(prefix="/api/v1/files", tags=["links"])
router = APIRouter(prefix="/api/v1/links", tags=["links"])
# Выдать ссылку может всякий, кто может скачать файл сам: ссылка не даёт больше, чем есть у владельца.
READER = limited_readers(roles(Role.ADMIN, Role.USER, Role.AUDITOR, Role.READONLY))
ANY_ROLE = require_roles(*Role)
# Границы параметров — чтобы запрос не дошёл до PostgreSQL числом вне int64 или строкой длиннее столбца.
MAX_OFFSET = 1_000_000
AccountId = Annotated[str | None, Query(min_length=1, max_length=128, description="sub учётной записи")]
LinkId = Annotated[str, Path(min_length=1, max_length=32)]


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in: int = Field(ge=1, description="Через сколько секунд ссылка перестанет работать "
                                              "(не больше QUERY_LINK_MAX_TTL, по умолчанию неделя)")
    max_downloads: int | None = Field(None, ge=1, le=1_000_000,
                                      description="Сколько раз можно скачать файл целиком; докачка остатка "
                                                  "не тратит лишнего — считаются отданные байты")


class LinkInfo(BaseModel):
    id: str
    file_id: str
    owner_id: str
    owner_name: str
    created_at: datetime
    expires_at: datetime
    max_downloads: int | None
    uses: int = Field(description="Сколько запросов по ссылке отдано (включая докачку по Range)")
    bytes_sent: int
    downloads: int = Field(description="Сколько раз файл отдан целиком (отданные байты / размер)")
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    status: str = Field(description="active | expired | revoked | exhausted")


class LinkCreated(LinkInfo):
    token: str = Field(description="{link_id}.{exp}.{hmac}")
    path: str = Field(description="Путь ссылки от корня query-module (для клиентов за своим прокси)")
    url: str = Field(description="Полный адрес: работает без Authorization до expires_at")


class LinkList(BaseModel):
    items: list[LinkInfo]
    total: int
    limit: int
    offset: int


class RevokedLinks(BaseModel):
    account_id: str
    revoked: int
    link_ids: list[str]


def _service(request: Request) -> LinkService:
    service: LinkService | None = getattr(request.app.state, "links", None)
    if service is None:
        raise ProblemError(503, "links_unavailable", "Временные ссылки недоступны: нет соединения с PostgreSQL "
                           "query-module (таблица query_links). Скачивание по токену работает.",
                           headers={"Retry-After": "5"})
    return service


def _base_url(request: Request) -> str:
    public: str = request.app.state.settings.public_url
    return (public or str(request.base_url)).rstrip("/")


async def _own(request: Request, link_id: str, principal: Principal) -> Link:
    link = await _service(request).store.get(link_id)
    # чужая ссылка для не-ADMIN — как несуществующая: id чужих ссылок не раскрываем
    if link is None or (link.owner_id != principal.subject and principal.role is not Role.ADMIN):
        raise ProblemError(404, "link_not_found", f"Ссылки {link_id} нет среди ваших")
    return link


@files_router.post("/{file_id}/links", status_code=201, response_model=LinkCreated,
                   summary="Выдать временную ссылку на скачивание без токена", operation_id="createFileLink")
async def create_link(file_id: FileId, body: LinkCreate, request: Request,
                      principal: Annotated[Principal, READER]) -> dict[str, Any]:
    service = _service(request)
    meta, _el = await request.app.state.locator.metadata(file_id)  # 404, если файла нет
    size = int(meta.get("file_size") or 0)
    link, token = await service.create(request, principal, file_id, size, body.expires_in, body.max_downloads)
    path = LINK_PATH.format(token=token)
    return {**link.public(), "token": token, "path": path, "url": _base_url(request) + path}


@files_router.get("/{file_id}/links", response_model=LinkList, summary="Ссылки на файл (свои; ADMIN — все)",
                  operation_id="listFileLinks")
async def file_links(file_id: FileId, request: Request, principal: Annotated[Principal, READER],
                     active: bool = False, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> dict[str, Any]:
    owner = None if principal.role is Role.ADMIN else principal.subject
    items, total = await _service(request).store.list(owner_id=owner, file_id=file_id, active_only=active,
                                                      limit=limit, offset=offset)
    return {"items": [i.public() for i in items], "total": total, "limit": limit, "offset": offset}


@router.get("", response_model=LinkList, summary="Ссылки учётной записи (своей; ADMIN — любой)",
            operation_id="listLinks")
@router.get("/", response_model=LinkList, include_in_schema=False)
async def list_links(request: Request, principal: Annotated[Principal, ANY_ROLE],
                     account_id: AccountId = None, active: bool = False,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> dict[str, Any]:
    owner = _account(principal, account_id)
    items, total = await _service(request).store.list(owner_id=owner, file_id=None, active_only=active,
                                                      limit=limit, offset=offset)
    return {"items": [i.public() for i in items], "total": total, "limit": limit, "offset": offset}


def _account(principal: Principal, account_id: str | None) -> str:
    if account_id is None or account_id == principal.subject:
        return principal.subject
    if principal.role is not Role.ADMIN:
        raise ProblemError(403, "forbidden", "Чужие ссылки перечисляет и отзывает только ADMIN")
    return account_id


@router.delete("", response_model=RevokedLinks, summary="Отозвать все действующие ссылки учётной записи",
               operation_id="revokeAccountLinks")
@router.delete("/", response_model=RevokedLinks, include_in_schema=False)
async def revoke_account_links(request: Request, principal: Annotated[Principal, ANY_ROLE],
                               account_id: AccountId = None) -> dict[str, Any]:
    owner = _account(principal, account_id)
    ids = await _service(request).revoke_owner(request, owner, principal)
    return {"account_id": owner, "revoked": len(ids), "link_ids": ids}


@router.delete("/{link_id}", status_code=204, summary="Отозвать ссылку", operation_id="revokeLink")
async def revoke_link(link_id: LinkId, request: Request,
                      principal: Annotated[Principal, ANY_ROLE]) -> Response:
    link = await _own(request, link_id, principal)
    await _service(request).revoke(request, link, principal)
    return Response(status_code=204)


_LINK_RESPONSES: dict[int | str, dict[str, Any]] = {
    **DOWNLOAD_RESPONSES, 403: {"description": "link_invalid (подпись, нет такой) или link_revoked"},
    410: {"description": "link_expired или link_exhausted (max_downloads)"},
    409: {"description": "Файл в архиве (file_archived): владелец восстанавливает его, ссылка та же"}}


@router.get("/{token}", response_class=Response, operation_id="downloadByLink", responses=_LINK_RESPONSES,
            openapi_extra=DOWNLOAD_OPENAPI,
            summary="Скачать файл по временной ссылке (без Authorization; Range, If-Range, докачка)")
@router.head("/{token}", response_class=Response, operation_id="headByLink", responses=_LINK_RESPONSES,
             openapi_extra=DOWNLOAD_OPENAPI,
             summary="Заголовки файла по временной ссылке (размер, ETag) без скачивания")
async def download_by_link(token: str, request: Request) -> Response:
    service = _service(request)
    link = await service.open(request, token)
    gate = LinkGate(service, request, link) if request.method == "GET" else None
    response = await serve_download(request, link.file_id, gate)
    # адрес ссылки — сам пропуск: не отдаём его чужим сайтам в Referer
    response.headers["referrer-policy"] = "no-referrer"
    return response
