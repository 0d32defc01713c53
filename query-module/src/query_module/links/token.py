"""Токен ссылки ``{link_id}.{exp}.{hmac}``: подпись HMAC-SHA256 над ``{link_id}.{exp}``.

Срок зашит в подписанную часть: истёкшую ссылку query отклоняет, не спрашивая базу; подделанный срок не
сходится с подписью. Отзыв и счётчик скачиваний живут в базе (``query_links``) — подпись их не знает.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass

# link_id — base64url без точек; exp — секунды Unix; подпись — base64url 32 байт без «=».
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{16,32})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class LinkToken:
    link_id: str
    exp: int


def new_link_id() -> str:
    """128 случайных бит (id не угадать, даже зная чужую ссылку) base64url, первая буква — не «-» и не «_»:
    id с «-» в начале командная строка принимает за опцию (``artstore-cli unlink -RF…`` — ошибка разбора)."""
    while True:
        link_id = secrets.token_urlsafe(16)
        if link_id[0].isalnum():
            return link_id


def _sign(secret: bytes, link_id: str, exp: int) -> str:
    mac = hmac.new(secret, f"{link_id}.{exp}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def make_token(secret: bytes, link_id: str, exp: int) -> str:
    return f"{link_id}.{exp}.{_sign(secret, link_id, exp)}"


def parse_token(secret: bytes, token: str) -> LinkToken | None:
    """Токен с верной подписью или None (испорчен, подделан, подписан другим секретом)."""
    m = _TOKEN.match(token)
    if m is None:
        return None
    link_id, exp = m.group(1), int(m.group(2))
    if not hmac.compare_digest(_sign(secret, link_id, exp), m.group(3)):
        return None
    return LinkToken(link_id, exp)


_IN_PATH = re.compile(r"(/api/v1/links/[A-Za-z0-9_-]{16,32}\.\d{1,12}\.)[A-Za-z0-9_-]+")


def redact(path: str) -> str:
    """Путь без подписи ссылки: id и срок остаются (по ним ссылку находят), пропуска в журнале нет."""
    return _IN_PATH.sub(r"\1…", path)


class RedactLinkTokens(logging.Filter):
    """Журнал запросов (``artstore.access``) пишет путь — а путь ссылки и есть пропуск к файлу: кто читает
    журналы, не должен получать скачивание без токена."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        path = getattr(record, "http_path", None)
        if isinstance(path, str):
            record.http_path = redact(path)
        return True


def redact_access_log() -> None:
    access = logging.getLogger("artstore.access")
    if not any(isinstance(f, RedactLinkTokens) for f in access.filters):
        access.addFilter(RedactLinkTokens())
