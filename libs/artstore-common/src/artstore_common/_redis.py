"""Клиенты Redis для всех сервисов — одна фабрика: простой Redis по ``redis://`` или мастер из Redis
Sentinel по ``redis+sentinel://``.

Форма адреса Sentinel: ``redis+sentinel://[[user]:password@]host1:port1,host2:port2/<master>[/<db>]``
(пароль — от самого Redis; у sentinel-ов его нет или он задан ``sentinel_password`` в query). Настройки
``ARTSTORE_REDIS_SENTINELS`` и ``ARTSTORE_REDIS_SENTINEL_MASTER`` собирают ровно такой адрес (см.
``ServiceSettings``), так что дальше по коду ходит одна строка ``redis_url``.

Переключение мастера клиент переживает сам: пул redis-py спрашивает у sentinel адрес мастера при каждом
новом соединении, а разорванные соединения (старый мастер умер или стал репликой — ``READONLY``)
закрываются. Длинные подписки (pub/sub, XREADGROUP) у нас и так переподключаются в цикле — после
переключения они приходят уже к новому мастеру.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
DEFAULT_SENTINEL_MASTER = "mymaster"


class _SentinelRedis(aioredis.Redis):
    """Клиент мастера, который при закрытии закрывает и свои соединения с sentinel-ами (иначе они
    остались бы висеть — ``Sentinel`` ими владеет, а клиент мастера о них не знает)."""

    _sentinel: Sentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        try:
            await super().aclose(close_connection_pool)
        finally:
            if self._sentinel is not None:
                sentinel, self._sentinel = self._sentinel, None
                await sentinel.aclose()


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """``"h1:26379,h2:26379"`` → ``[("h1", 26379), ("h2", 26379)]``; порт по умолчанию — 26379."""
    out: list[tuple[str, int]] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep:
            host, port = item, "26379"
        host = host.strip("[]")
        if not host or not port.isdigit():
            raise ValueError(f"адрес sentinel {item!r}: нужен host:port, например 10.0.0.5:26379")
        out.append((host, int(port)))
    if not out:
        raise ValueError("список sentinel пуст: нужен хотя бы один host:port")
    return out


def sentinel_url(sentinels: str, master: str = DEFAULT_SENTINEL_MASTER, base_url: str = "") -> str:
    """Адрес ``redis+sentinel://`` из списка sentinel-ов; пароль и номер базы берутся из ``base_url``
    (обычного ``redis://…``), чтобы их не приходилось повторять."""
    hosts = ",".join(f"{h}:{p}" for h, p in parse_sentinels(sentinels))
    userinfo, db = "", 0
    if base_url:
        parts = urlsplit(base_url)
        if "@" in parts.netloc:
            userinfo = parts.netloc.rpartition("@")[0] + "@"
        path = parts.path.strip("/")
        if path.isdigit():
            db = int(path)
    if not master or "/" in master:
        raise ValueError(f"имя мастера sentinel {master!r}: нужно имя из `sentinel monitor <имя> …`")
    return f"redis+sentinel://{userinfo}{hosts}/{master}/{db}"


def is_sentinel_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SENTINEL_SCHEMES


def make_redis(url: str, **kwargs: Any) -> aioredis.Redis:
    """Клиент Redis по адресу из настроек. ``kwargs`` — параметры соединения redis-py
    (``socket_timeout``, ``socket_connect_timeout``, ``health_check_interval``…): те же для обеих форм.
    С Sentinel тайм-ауты сокета применяются и к опросу sentinel-ов, чтобы мёртвый sentinel не держал
    запрос дольше, чем мёртвый мастер."""
    if not is_sentinel_url(url):
        return aioredis.from_url(url, **kwargs)
    scheme, _, rest = url.partition("://")
    netloc, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    userinfo, _, hosts = netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, sep, pwd = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pwd) if sep else None
    segments = [s for s in path.split("/") if s]
    master = segments[0] if segments else DEFAULT_SENTINEL_MASTER
    db = int(segments[1]) if len(segments) > 1 and segments[1].isdigit() else 0
    params = parse_qs(query)
    sentinel_kwargs: dict[str, Any] = {
        k: v for k, v in kwargs.items() if k in ("socket_timeout", "socket_connect_timeout") and v is not None
    }
    sentinel_kwargs.setdefault("socket_timeout", 2)
    sentinel_kwargs.setdefault("socket_connect_timeout", 2)
    if "sentinel_password" in params:
        sentinel_kwargs["password"] = params["sentinel_password"][0]
    sentinel = Sentinel(parse_sentinels(hosts), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    client: _SentinelRedis = sentinel.master_for(
        master, redis_class=_SentinelRedis, db=db, username=username, password=password,
        ssl=scheme.lower().startswith("rediss"), **kwargs,
    )
    client._sentinel = sentinel
    return client
