"""Журнал аудита файловых операций на настоящем флоте: загрузка (ingester) → удаление (ingester) → в
``GET /api/v1/audit?file_id=`` admin видны обе записи с тем, кто их сделал (событие → группа admin-audit)."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from .conftest import RunningFleet

pytestmark = pytest.mark.e2e

ADMIN, INGESTER = "http://127.0.0.1:8000", "http://127.0.0.1:8020"


def _token(client_id: str, secret: str) -> dict[str, str]:
    r = httpx.post(f"{ADMIN}/api/v1/auth/token", json={"client_id": client_id, "client_secret": secret}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_upload_and_delete_reach_audit_with_actor(fleet: RunningFleet) -> None:
    secrets = fleet.secrets()
    admin = _token(secrets["INITIAL_CLIENT_ID"], secrets["INITIAL_CLIENT_SECRET"])
    # загружает один аккаунт (USER), удаляет другой (ADMIN): журнал должен различить их
    r = httpx.post(f"{ADMIN}/api/v1/service-accounts", headers=admin, timeout=30,
                   json={"name": f"загрузчик-{uuid.uuid4().hex[:6]}", "role": "USER"})
    assert r.status_code == 201, r.text
    uploader = r.json()
    user = _token(uploader["client_id"], uploader["client_secret"])

    r = httpx.post(f"{INGESTER}/api/v1/files/upload", headers=user, timeout=60,
                   files={"file": ("акт сверки.txt", b"audit me", "text/plain")})
    assert r.status_code == 201, r.text
    file_id = r.json()["file_id"]
    r = httpx.delete(f"{INGESTER}/api/v1/files/{file_id}", headers=admin, timeout=30)
    assert r.status_code == 204, r.text

    deadline = time.monotonic() + 30
    page: dict = {}
    while time.monotonic() < deadline:
        page = httpx.get(f"{ADMIN}/api/v1/audit", params={"file_id": file_id}, headers=admin, timeout=10).json()
        if page.get("total", 0) >= 2:
            break
        time.sleep(0.3)
    assert [e["action"] for e in page["items"]] == ["file.delete", "file.upload"], page
    deleted, uploaded = page["items"]
    assert uploaded["actor_id"] == uploader["id"] and uploaded["actor_type"] == "service_account"
    assert uploaded["target_type"] == "file" and uploaded["target_id"] == file_id
    assert uploaded["details"]["original_filename"] == "акт сверки.txt"
    system = httpx.get(f"{ADMIN}/api/v1/service-accounts", params={"search": secrets["INITIAL_CLIENT_ID"]},
                       headers=admin, timeout=10).json()["items"][0]
    assert deleted["actor_id"] == system["id"] and deleted["outcome"] == "success"
    assert deleted["details"]["owner_id"] == uploader["id"]
    assert uploaded["event_id"] and deleted["event_id"] and uploaded["event_id"] != deleted["event_id"]
    # файловые записи — в общей цепочке хэшей журнала
    assert httpx.get(f"{ADMIN}/api/v1/audit/verify", headers=admin, timeout=30).json()["valid"] is True
