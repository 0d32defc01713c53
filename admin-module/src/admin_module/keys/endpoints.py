"""JWKS (публично) и управление ключами подписи (ADMIN; чтение — ещё AUDITOR)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request, Response

from ..audit import service as audit
from ..deps import AdminActor, ReaderPrincipal, SessionDep, SettingsDep
from . import repository
from .schemas import JwtKeyOut, JwtKeysOut, RotateOut
from .service import KeyManager

router = APIRouter(prefix="/jwt-keys", tags=["jwt-keys"])
jwks_router = APIRouter(tags=["jwks"])


def _keys(request: Request) -> KeyManager:
    keys: KeyManager = request.app.state.keys
    return keys


@jwks_router.get("/.well-known/jwks.json", summary="Публичные ключи подписи (JWKS)")
async def jwks(request: Request, response: Response) -> dict[str, object]:
    response.headers["Cache-Control"] = "public, max-age=300"
    return await _keys(request).jwks()


@router.get("", response_model=JwtKeysOut, summary="Состояние ключей подписи")
@router.get("/", response_model=JwtKeysOut, include_in_schema=False)
async def list_keys(_: ReaderPrincipal, session: SessionDep, settings: SettingsDep) -> JwtKeysOut:
    now = datetime.now(UTC)
    keys = await repository.all_keys(session)
    active = next((k for k in keys if k.status == "active"), None)
    items = [
        JwtKeyOut(kid=k.kid, status=k.status, algorithm=k.algorithm, created_at=k.created_at,
                  activated_at=k.activated_at, retired_at=k.retired_at, remove_after=k.remove_after,
                  age_seconds=(now - k.activated_at).total_seconds() if k.activated_at else None)
        for k in keys
    ]
    nxt = None
    if active is not None and active.activated_at is not None:
        nxt = active.activated_at + timedelta(hours=settings.key_rotation_hours)
    return JwtKeysOut(items=items, active_kid=active.kid if active else None, next_rotation_at=nxt,
                      rotation_hours=settings.key_rotation_hours)


@router.post("/rotate", response_model=RotateOut, summary="Ротировать ключ подписи сейчас")
async def rotate_keys(actor: AdminActor, session: SessionDep, request: Request) -> RotateOut:
    active, nxt, retired = await _keys(request).rotate(session)
    await audit.record(session, actor, "jwt_key.rotate", target_type="jwt_key", target_id=active,
                       details={"next_kid": nxt, "retired_kid": retired, "manual": True})
    return RotateOut(active_kid=active, next_kid=nxt, retired_kid=retired)
