"""Файлы клиента (0600, атомарно, ключ загрузки) и разбор ошибок сервисов — без флота."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import httpx

from artstore_cli.api import problem
from artstore_cli.state import UPLOAD_KEEP_SECONDS, Store
from artstore_cli.transfer import repr_digest_hex, safe_name, tus_metadata, upload_fields


def test_credentials_file_is_private_and_replaced_atomically(tmp_path: Path) -> None:
    store = Store(tmp_path / "cfg")
    store.save_credentials({"client_id": "c", "client_secret": "s", "expires_at": 1.0})
    path = tmp_path / "cfg" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cfg").stat().st_mode) == 0o700
    inode = path.stat().st_ino
    store.save_credentials({"client_id": "c2"})
    assert store.credentials() == {"client_id": "c2"}
    assert path.stat().st_ino != inode  # новый файл на месте старого (rename), не дописанный
    assert [p.name for p in (tmp_path / "cfg").iterdir() if p.name.endswith(".tmp")] == []
    path.write_text("{обрезан")
    assert store.credentials() == {}  # испорченный файл — как отсутствующий
    assert store.forget_credentials() and not path.exists() and not store.forget_credentials()


def test_upload_key_follows_path_size_mtime_and_ingester(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"x" * 10)
    key = Store.upload_key(f, "http://127.0.0.1:8020")
    assert Store.upload_key(f, "http://127.0.0.1:8020/") == key
    assert Store.upload_key(f, "http://other:8020") != key
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert Store.upload_key(f, "http://127.0.0.1:8020") != key  # изменённый файл — новая загрузка


def test_upload_entries_saved_and_stale_ones_pruned(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save_upload("old", {"url": "u0"})
    data = json.loads((tmp_path / "uploads.json").read_text())
    data["old"]["saved_at"] = time.time() - UPLOAD_KEEP_SECONDS - 1
    (tmp_path / "uploads.json").write_text(json.dumps(data))
    store.save_upload("new", {"url": "u1", "sha256": "ab"})
    assert store.upload("old") is None
    assert store.upload("new") == {"url": "u1", "sha256": "ab", "saved_at": store.upload("new")["saved_at"]}
    assert stat.S_IMODE((tmp_path / "uploads.json").stat().st_mode) == 0o600
    store.drop_upload("new")
    assert store.upload("new") is None


def test_problem_detail_and_oauth_description() -> None:
    r = httpx.Response(404, json={"type": "about:blank", "title": "Not Found", "status": 404,
                                  "code": "file_not_found", "detail": "файл x не найден"})
    err = problem(r, "удаление")
    assert str(err) == "удаление: файл x не найден (HTTP 404, file_not_found)" and err.status == 404
    r = httpx.Response(400, json={"error": "invalid_scope", "error_description": "scope недоступен"})
    assert str(problem(r, "токен")) == "токен: scope недоступен (HTTP 400, invalid_scope)"
    r = httpx.Response(502, text="<html>Bad Gateway</html>")
    assert str(problem(r, "поиск")) == "поиск: HTTP 502 <html>Bad Gateway</html>"


def test_upload_fields_and_metadata_encoding(tmp_path: Path) -> None:
    fields = upload_fields(tmp_path / "Отчёт.pdf", description="Д", tags=["a,b", "в"], meta={"k": "з"},
                           retention="temporary", ttl_days=7)
    assert fields == {"filename": "Отчёт.pdf", "filetype": "application/pdf", "retention_policy": "temporary",
                      "ttl_days": "7", "description": "Д", "tags": '["a,b", "в"]', "metadata": '{"k": "з"}'}
    header = tus_metadata({"filename": "Отчёт.pdf", "ttl_days": "7"})
    assert header == "filename 0J7RgtGH0ZHRgi5wZGY=,ttl_days Nw=="


def test_safe_name_and_repr_digest() -> None:
    assert safe_name("../../etc/passwd", "id") == "passwd"
    assert safe_name("..\\..\\win.ini", "id") == "win.ini"
    assert safe_name(".bashrc", "id") == "bashrc"
    assert safe_name("", "id") == "id"
    assert repr_digest_hex("sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert repr_digest_hex(None) is None
