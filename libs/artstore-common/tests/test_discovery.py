"""Discovery: снимок из Redis, подписка на изменения и работа из локального файла без Redis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from artstore_common import DiscoveryClient, publish_snapshot
from artstore_common.embedded import EmbeddedRedis, free_port


def snapshot(version: int, *ids: str) -> dict[str, object]:
    return {"version": version, "storage_elements": [{"id": i, "mode": "edit", "status": "online"} for i in ids]}


async def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("условие не выполнилось вовремя")
        await asyncio.sleep(0.05)


async def test_reads_snapshot_and_follows_updates(redis_url: str, redis_namespace: str, tmp_path: Path) -> None:
    r = aioredis.from_url(redis_url)
    await publish_snapshot(r, redis_namespace, snapshot(1, "se-01"))
    client = DiscoveryClient(redis_url, redis_namespace, tmp_path / "snap.json", reconnect_interval=0.1)
    await client.start()
    try:
        assert [e["id"] for e in client.elements] == ["se-01"]
        await asyncio.sleep(0.3)  # подписка установлена
        await publish_snapshot(r, redis_namespace, snapshot(2, "se-01", "se-02"))
        await wait_for(lambda: len(client.elements) == 2)
        assert json.loads((tmp_path / "snap.json").read_text())["version"] == 2
        assert await client.health() is None
    finally:
        await client.stop()
        await r.aclose()


async def test_serves_from_file_while_redis_is_down(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", free_port(), persistent=False).start()
    registry = CollectorRegistry()
    ns = "disc"
    r = aioredis.from_url(server.url)
    await publish_snapshot(r, ns, snapshot(3, "se-01", "se-02"))
    await r.aclose()
    client = DiscoveryClient(server.url, ns, tmp_path / "snap.json", registry=registry, reconnect_interval=0.1)
    await client.start()
    try:
        assert len(client.elements) == 2
        server.stop()
        await wait_for(lambda: client.fallback_active)
        assert len(client.elements) == 2  # работа продолжается по последнему снимку
        assert "локального снимка" in (await client.health() or "")
        assert registry.get_sample_value("artstore_discovery_fallback_active") == 1
    finally:
        await client.stop()

    # Новый процесс при лежащем Redis стартует из файла.
    fresh = DiscoveryClient(server.url, ns, tmp_path / "snap.json", registry=CollectorRegistry())
    await fresh.start()
    try:
        assert fresh.fallback_active
        assert [e["id"] for e in fresh.elements] == ["se-01", "se-02"]
    finally:
        await fresh.stop()


async def test_recovers_when_redis_returns(tmp_path: Path) -> None:
    port = free_port()
    server = EmbeddedRedis(tmp_path / "redis", port, persistent=False).start()
    client = DiscoveryClient(server.url, "rec", tmp_path / "snap.json", reconnect_interval=0.1)
    await client.start()
    try:
        server.stop()
        await wait_for(lambda: client.fallback_active)
        server = EmbeddedRedis(tmp_path / "redis2", port, persistent=False).start()
        r = aioredis.from_url(server.url)
        await publish_snapshot(r, "rec", snapshot(9, "se-09"))
        await r.aclose()
        await wait_for(lambda: not client.fallback_active and client.snapshot.get("version") == 9, timeout=10)
    finally:
        await client.stop()
        server.stop()


@pytest.mark.parametrize("content", ["", "{broken"])
async def test_bad_fallback_file_is_ignored(tmp_path: Path, content: str) -> None:
    path = tmp_path / "snap.json"
    path.write_text(content)
    client = DiscoveryClient(f"redis://127.0.0.1:{free_port()}/0", "x", path, reconnect_interval=0.1)
    await client.start()
    try:
        assert client.elements == []
        assert client.fallback_active
    finally:
        await client.stop()
