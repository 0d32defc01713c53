"""Сужение запрошенного scope (RFC 6749 §3.3) до того, что может аккаунт.

Словарь scope — роли в нижнем регистре (``artstore_common.ROLE_SCOPES``): ``admin`` включает всё,
``user`` и ``auditor`` — ``readonly``. В токене одна роль, и scope токена — ровно её набор: проверки
ролей во всех сервисах остаются прежними, а сузивший scope клиент получает меньшую роль.
"""

from __future__ import annotations

import re

from artstore_common import ROLE_SCOPES, AuthOutcome, Role

from .service import ClientAuthFailure

# scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), разделитель — пробел (RFC 6749 §3.3)
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
SCOPES_SUPPORTED = ("admin", "user", "auditor", "readonly")


def scope_string(role: Role) -> str:
    """Scope токена с этой ролью: в порядке словаря, чтобы строка была одной и той же."""
    return " ".join(s for s in SCOPES_SUPPORTED if s in ROLE_SCOPES[role])


def _invalid(description: str) -> ClientAuthFailure:
    return ClientAuthFailure("invalid_scope", description, AuthOutcome.INVALID_SCOPE, status=400)


def narrow(account_role: Role, requested: str | None) -> Role:
    """Роль токена для запрошенного scope; без scope — роль аккаунта. Иначе ``invalid_scope``."""
    if requested is None or not requested.strip():
        return account_role
    items = list(dict.fromkeys(requested.split()))
    if not all(_SCOPE_TOKEN.match(item) for item in items):
        raise _invalid("scope: значения через пробел, без кавычек и обратной косой черты")
    may = ROLE_SCOPES[account_role]
    granted = [item for item in items if item in may]
    if not granted:
        raise _invalid(f"аккаунту с ролью {account_role.value} недоступен scope {requested.strip()!r}; "
                       f"доступны: {scope_string(account_role)}")
    # Запрошенное сверх прав аккаунта отбрасывается; из оставшегося выбирается роль, покрывающая его целиком.
    for item in granted:
        role = Role(item.upper())
        if set(granted) <= ROLE_SCOPES[role]:
            return role
    raise _invalid(f"в токене одна роль, а {' и '.join(granted)} вместе не покрывает ни одна из запрошенных; "
                   "запросите одну из них (или admin)")
