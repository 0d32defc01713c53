"""Служебное: сведения и ёмкость (любой токен), режим, кэш, скраб (ADMIN)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from artstore_common import ACTOR_HEADER, CurrentPrincipal, EventActor, Principal, Role, require_roles

from ..archive import archive_all
from ..element import Element
from ..models import ModeRequest
from ..reconcile import consistency, rebuild
from ..scrub import scrub
from . import element

router = APIRouter(prefix="/api/v1", tags=["element"])
admin = [require_roles(Role.ADMIN)]
VERSION = "0.1.0"


# Сведения и ёмкость — тоже за токеном (docs/architecture.md §2): без него наружу утекали режим, адрес, заполненность
# и число файлов. Любая роль: их читают admin (опрос реестра) и сервисы.
@router.get("/info", summary="Сведения об элементе (для discovery)")
async def info(_: CurrentPrincipal, el: Element = Depends(element)) -> dict[str, Any]:
    return {**el.info(), "expiring_soon": await el.expiring_soon(), "version": VERSION}


@router.get("/capacity", summary="Ёмкость")
async def capacity(_: CurrentPrincipal, el: Element = Depends(element)) -> dict[str, Any]:
    i = el.info()
    return {k: i[k] for k in ("capacity_bytes", "used_bytes", "free_bytes", "disk_free_bytes", "file_count")}


@router.post("/mode", summary="Сменить режим (rw→ro, ro→ar)")
async def change_mode(req: ModeRequest, request: Request, el: Element = Depends(element),
                      principal: Principal = require_roles(Role.ADMIN)) -> dict[str, Any]:
    old = el.mode
    new = el.modes.change(req.mode)
    if new != old:
        await el.publisher.emit("element_mode_changed", {"storage_element_id": el.settings.element_id,
                                                         "from": old, "to": new},
                                actor=EventActor.on_behalf(principal, request.headers.get(ACTOR_HEADER)))
    if new == "ar" and old != "ar":
        el.spawn(archive_all(el))
    return {"mode": new, "previous": old}


@router.post("/cache/rebuild", summary="Пересобрать кэш из attr.json", dependencies=admin)
async def cache_rebuild(mode: Literal["full", "incremental"] = Query("incremental"),
                        el: Element = Depends(element)) -> dict[str, Any]:
    async with el.maintenance:
        return await rebuild(el, mode)


@router.get("/cache/consistency", summary="Сверка кэша с файлами (только отчёт)", dependencies=admin)
async def cache_consistency(el: Element = Depends(element)) -> dict[str, Any]:
    return await consistency(el)


@router.post("/scrub", summary="Проверка целостности: sha256 данных против attr.json", dependencies=admin)
async def run_scrub(el: Element = Depends(element)) -> dict[str, Any]:
    async with el.maintenance:
        return await scrub(el)
