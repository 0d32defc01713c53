import json
from datetime import UTC, datetime

import pytest

from artstore_common import ProblemError
from storage_element import attrs

V1_FIXTURE = {
    "schema_version": 1,
    "file_id": "0f0e0d0c-0000-4000-8000-000000000009",
    "filename": "Договор №5.pdf",
    "storage_filename": "Договор №5_petrov_20240101T000000_0f0e0d0c.pdf",
    "path": "2024/01/01/00/Договор №5_petrov_20240101T000000_0f0e0d0c.pdf",
    "size": 1234,
    "sha256": "ab" * 32,
    "uploaded_at": "2024-01-01T00:00:00Z",
    "username": "petrov",
    "tags": "договор, 2024",
}


def _attr(**meta: object) -> dict:
    return attrs.build(file_id="f1", meta={"original_filename": "a.txt", **meta}, key="2026/01/01/00/a.txt",
                       file_size=1, checksum="0" * 64, element_id="se-01", created_at=datetime.now(UTC),
                       expires_at=None, compression=None)


def test_roundtrip_current() -> None:
    attr = _attr(tags=["x"], metadata={"отдел": "бухгалтерия"})
    data = attrs.encode(attr)
    assert "бухгалтерия".encode() in data  # без \u-экранирования
    back = attrs.decode(data)
    assert back == attr
    assert back["schema_version"] == attrs.SCHEMA_VERSION
    assert set(attrs.FIELDS) == set(back)


def test_too_large_is_413_with_clear_message() -> None:
    with pytest.raises(ProblemError) as exc:
        attrs.encode(_attr(metadata={"blob": "я" * 3000}))
    assert exc.value.status == 413
    assert exc.value.code == "attributes_too_large"
    assert "4096" in exc.value.detail


def test_v1_readable_and_migrated() -> None:
    attr = attrs.decode(json.dumps(V1_FIXTURE, ensure_ascii=False).encode())
    assert attr["schema_version"] == attrs.SCHEMA_VERSION
    assert attr["original_filename"] == "Договор №5.pdf"
    assert attr["file_size"] == 1234
    assert attr["checksum"] == "ab" * 32
    assert attr["storage_path"] == V1_FIXTURE["path"]
    assert attr["created_by_username"] == "petrov"
    assert attr["tags"] == ["договор", "2024"]
    assert attr["compression"] is None
    assert set(attrs.FIELDS) == set(attr)


def test_unknown_version_refused() -> None:
    with pytest.raises(ValueError):
        attrs.decode(b'{"schema_version": 99, "file_id": "x"}')
    with pytest.raises(ValueError):
        attrs.decode(b"[1,2]")
