"""Размещение: заполненный элемент пропускается, нет места нигде — 507; Redis упал — работаем из файла."""

from __future__ import annotations

import os
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from artstore_common import NO_STORAGE_ELEMENT, PlacementResult
from artstore_common.embedded import EmbeddedRedis
from artstore_common.testing import free_port

API = "/api/v1"


def _upload(url: str, headers: dict[str, str], size: int, **fields: str) -> httpx.Response:
    return httpx.post(url + API + "/files/upload", headers=headers, timeout=30, data=fields or None,
                      files={"file": ("f.bin", os.urandom(size))})


def test_full_element_is_skipped_then_507(fleet) -> None:
    fleet.add_element("se-a", "edit", max_size="300KiB", priority=1)
    fleet.add_element("se-b", "edit", max_size="450KiB", priority=2)
    fleet.add_element("se-rw", "rw", priority=1)
    fleet.publish()
    url = fleet.ingester()
    placed = []
    for _ in range(6):
        r = _upload(url, fleet.headers(), 100 * 1024)
        assert r.status_code == 201, r.text
        placed.append(r.json()["storage_element_id"])
    assert placed[0] == "se-a" and placed[-1] == "se-b"
    assert placed.index("se-b") >= 2 and "se-a" not in placed[placed.index("se-b"):]
    # свежий снимок знает, что места нет: кандидатов не остаётся без единой попытки записи
    fleet.publish()
    time.sleep(1.5)
    for _ in range(2):
        r = _upload(url, fleet.headers(), 200 * 1024)
        if r.status_code == 507:
            break
    assert r.status_code == 507, r.text
    assert r.json()["code"] == "insufficient_storage" and "edit" in r.json()["detail"]
    assert r.headers["Retry-After"]
    # permanent по-прежнему идёт на rw
    assert _upload(url, fleet.headers(), 1000, retention_policy="permanent").json()["storage_element_id"] == "se-rw"
    metrics = httpx.get(url + "/metrics").text
    assert 'artstore_placement_decisions_total{result="insufficient_storage",storage_element="se-a"}' in metrics
    # 507 «некуда писать» — тот ряд, по которому срабатывает NoWritableStorageElement
    no_candidate = [s.value for f in text_string_to_metric_families(metrics) for s in f.samples
                    if s.name == "artstore_placement_decisions_total"
                    and s.labels == {"storage_element": NO_STORAGE_ELEMENT, "result": PlacementResult.NO_CANDIDATE}]
    assert no_candidate and no_candidate[0] >= 1, no_candidate


def test_offline_element_is_skipped(fleet) -> None:
    fleet.add_element("se-a", "edit", priority=1)
    fleet.add_element("se-b", "edit", priority=2)
    fleet.publish()
    url = fleet.ingester()
    fleet.elements["se-a"].stop()  # снимок ещё считает его online — ingester сам переходит к следующему
    for _ in range(3):
        r = _upload(url, fleet.headers(), 5000)
        assert r.status_code == 201, r.text
        assert r.json()["storage_element_id"] == "se-b"


def test_redis_down_uses_fallback_snapshot(tmp_path, fleet_factory) -> None:
    server = EmbeddedRedis(tmp_path / "redis", free_port(), persistent=False).start()
    f = fleet_factory(server.url)
    try:
        f.add_element("se-a", "edit", priority=1)
        f.publish()
        url = f.ingester()
        assert (f.ingesters[0].server.config.app.state.settings.data_dir / "ingester-discovery.json").exists()
        first = _upload(url, f.headers(), 1000)
        assert first.status_code == 201
        # событие первой загрузки уже в Redis: в outbox остаются ровно три загрузки без Redis
        assert f.events("file_uploaded", first.json()["file_id"])
        server.stop()
        time.sleep(0.5)
        for _ in range(3):
            r = _upload(url, f.headers(), 2000)
            assert r.status_code == 201, r.text
        ready = httpx.get(url + "/health/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert checks["redis"]["status"] == "degraded"
        # события трёх загрузок ждут Redis в outbox PostgreSQL — и это видно в готовности
        for _ in range(50):
            outbox = httpx.get(url + "/health/ready", timeout=10).json()["checks"]["event_outbox"]
            if outbox["status"] == "degraded":
                break
            time.sleep(0.1)
        assert outbox["status"] == "degraded" and "3 ждут в PostgreSQL" in outbox["detail"], outbox
    finally:
        server.stop()
