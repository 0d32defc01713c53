"""Команда запуска: весь флот готов, каждый сервис отвечает /health/ready и /metrics, Ctrl-C чисто."""

from __future__ import annotations

import httpx
import pytest

from .conftest import PORTS, RunningFleet

pytestmark = pytest.mark.e2e


def test_every_service_ready_and_exposes_metrics(fleet: RunningFleet) -> None:
    for name, port in PORTS.items():
        r = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5)
        assert r.status_code == 200, (name, r.text)
        m = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert m.status_code == 200 and "http_requests_total" in m.text, name
    out = "".join(fleet.output)
    assert "client_secret" in out and "http://127.0.0.1:8000/docs" in out


def test_elements_registered_in_admin(fleet: RunningFleet) -> None:
    headers = {"Authorization": f"Bearer {fleet.token()}"}
    body = httpx.get("http://127.0.0.1:8000/api/v1/storage-elements", headers=headers, timeout=10).json()
    modes = {e["id"]: e["mode"] for e in body["items"]}
    assert modes == {"se-01": "edit", "se-02": "rw"}
