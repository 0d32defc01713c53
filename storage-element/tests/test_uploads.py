"""Частичные загрузки: смещения, фиксация тем же протоколом записи, отмена и истечение."""

from __future__ import annotations

import hashlib
import json
import os

from .conftest import running


async def test_partial_upload_flow(make_settings, backend_kind, admin) -> None:
    data = os.urandom(300_000)
    async with running(make_settings(storage_type=backend_kind)) as (_, c):
        body = {"upload_id": "up-1", "length": len(data), "meta": {"original_filename": "частями.bin"},
                "expected_sha256": hashlib.sha256(data).hexdigest()}
        r = await c.post("/api/v1/uploads", json=body, headers=admin)
        assert r.status_code == 201 and r.json()["offset"] == 0 and r.json()["file_id"] == "up-1"
        assert (await c.post("/api/v1/uploads", json=body, headers=admin)).status_code == 409
        r = await c.patch("/api/v1/uploads/up-1", content=data[:100_000], headers={**admin, "Upload-Offset": "0"})
        assert r.json()["offset"] == 100_000 and r.headers["upload-offset"] == "100000"
        r = await c.patch("/api/v1/uploads/up-1", content=data[100_000:], headers={**admin, "Upload-Offset": "5"})
        assert r.status_code == 409 and r.json()["code"] == "offset_mismatch" and r.json()["offset"] == 100_000
        r = await c.head("/api/v1/uploads/up-1", headers=admin)
        assert r.headers["upload-offset"] == "100000" and r.headers["upload-length"] == str(len(data))
        r = await c.post("/api/v1/uploads/up-1/commit", headers=admin)
        assert r.status_code == 409 and r.json()["code"] == "upload_incomplete"
        r = await c.patch("/api/v1/uploads/up-1", content=data[100_000:] + b"extra",
                          headers={**admin, "Upload-Offset": "100000"})
        assert r.status_code == 413
        r = await c.patch("/api/v1/uploads/up-1", content=data[100_000:], headers={**admin, "Upload-Offset": "100000"})
        assert r.json()["offset"] == len(data)
        r = await c.post("/api/v1/uploads/up-1/commit", headers=admin)
        assert r.status_code == 201, r.text
        assert r.json()["checksum"] == hashlib.sha256(data).hexdigest()
        assert (await c.get("/api/v1/files/up-1/content", headers=admin)).content == data
        assert (await c.get("/api/v1/uploads/up-1", headers=admin)).status_code == 404
        assert (await c.patch("/api/v1/uploads/..%2Fx", content=b"", headers={**admin, "Upload-Offset": "0"})
                ).status_code == 404


async def test_cancel_and_expire(make_settings, admin, tmp_path) -> None:
    async with running(make_settings()) as (app, c):
        for uid in ("a1", "a2"):
            body = {"upload_id": uid, "length": 10, "meta": {"original_filename": "x"}}
            r = await c.post("/api/v1/uploads", json=body,
                             headers=admin)
            assert r.status_code == 201
        assert (await c.delete("/api/v1/uploads/a1", headers=admin)).status_code == 204
        assert (await c.get("/api/v1/uploads/a1", headers=admin)).status_code == 404
        info_path = tmp_path / "data" / ".uploads" / "a2.json"
        info = json.loads(info_path.read_text())
        info["expires_at"] = "2000-01-01T00:00:00Z"
        info_path.write_text(json.dumps(info))
        assert await app.state.uploads.expire() == 1
        assert (await c.get("/api/v1/uploads/a2", headers=admin)).status_code == 404
        r = await c.post("/api/v1/uploads", json={"upload_id": "b", "length": 1, "meta": {}}, headers=admin)
        assert r.status_code == 422
