"""Фабрика клиентов Redis: Sentinel по адресу и по настройкам, переключение мастера на живых процессах."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from artstore_common import (
    DiscoveryClient,
    ServiceSettings,
    make_redis,
    parse_sentinels,
    publish_snapshot,
    sentinel_url,
)
from artstore_common.embedded_ha import RedisSentinelCluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinelCluster]:
    c = RedisSentinelCluster(tmp_path_factory.mktemp("sentinel")).start()
    try:
        yield c
    finally:
        c.stop()


def test_sentinel_url_from_settings_keeps_password_and_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTSTORE_REDIS_SENTINELS", "10.0.0.1:26379, 10.0.0.2")
    monkeypatch.setenv("ARTSTORE_REDIS_URL", "redis://:s3cret@10.0.0.9:6379/3")
    s = ServiceSettings(environment="development")
    assert s.redis_url == "redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379/mymaster/3"
    monkeypatch.setenv("ARTSTORE_REDIS_SENTINEL_MASTER", "artstore")
    assert ServiceSettings(environment="development").redis_url.endswith("/artstore/3")
    monkeypatch.delenv("ARTSTORE_REDIS_SENTINELS")
    assert ServiceSettings(environment="development").redis_url == "redis://:s3cret@10.0.0.9:6379/3"


def test_bad_sentinel_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="host:port"):
        parse_sentinels("10.0.0.1:abc")
    with pytest.raises(ValueError, match="пуст"):
        parse_sentinels(" , ")
    with pytest.raises(ValueError, match="имя мастера"):
        sentinel_url("h:1", "a/b")


async def test_client_follows_failover_and_pubsub_resumes(cluster: RedisSentinelCluster, tmp_path: Path) -> None:
    """Один и тот же клиент пишет до и после переключения; подписка discovery возвращается к новому мастеру."""
    client = make_redis(cluster.url, socket_timeout=5, socket_connect_timeout=1)
    discovery = DiscoveryClient(cluster.url, "sentinel-test", tmp_path / "snap.json", reconnect_interval=0.2)
    try:
        await client.set("before", "1")
        # реплика получила запись — её переживёт переключение; под нагрузкой машины связь реплики с мастером
        # может ещё устанавливаться, поэтому WAIT повторяется (каждый — короче тайм-аута сокета клиента)
        acked = 0
        for _ in range(15):
            acked = await client.wait(1, 2000)
            if acked == 1:
                break
        assert acked == 1
        await publish_snapshot(client, "sentinel-test", {"version": 1, "storage_elements": []})
        await discovery.start()
        assert discovery.snapshot["version"] == 1

        old = cluster.kill_master()
        started = time.monotonic()
        new = await asyncio.to_thread(cluster.wait_failover, old)
        assert new != old
        while True:
            try:
                await client.set("after", "2")
                break
            except Exception:
                assert time.monotonic() - started < 30, "клиент не нашёл новый мастер за 30 с"
                await asyncio.sleep(0.2)
        assert await client.get("before") == b"1"
        # discovery переподписался: новый снимок, опубликованный на новом мастере, дошёл через pub/sub
        await publish_snapshot(client, "sentinel-test", {"version": 2, "storage_elements": []})
        deadline = time.monotonic() + 15
        while discovery.snapshot.get("version") != 2:
            assert time.monotonic() < deadline, f"discovery не вернулся: {discovery.last_error}"
            await asyncio.sleep(0.1)
        assert not discovery.fallback_active
    finally:
        await discovery.stop()
        await client.aclose()


async def test_sentinel_url_parts_reach_the_connection_pool() -> None:
    client = make_redis("redis+sentinel://app:p%40ss@10.0.0.1:26379,10.0.0.2:26380/artstore/4?sentinel_password=sp",
                        socket_timeout=7)
    try:
        pool = client.connection_pool
        assert pool.service_name == "artstore"  # type: ignore[attr-defined]
        kw = pool.connection_kwargs
        assert (kw["username"], kw["password"], kw["db"], kw["socket_timeout"]) == ("app", "p@ss", 4, 7)
        sentinels = client._sentinel.sentinels  # type: ignore[attr-defined]
        assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
                for s in sentinels] == [("10.0.0.1", 26379), ("10.0.0.2", 26380)]
        assert sentinels[0].connection_pool.connection_kwargs["password"] == "sp"
    finally:
        await client.aclose()
    plain = make_redis("redis://127.0.0.1:6379/2")
    try:
        assert plain.connection_pool.connection_kwargs["db"] == 2
    finally:
        await plain.aclose()
