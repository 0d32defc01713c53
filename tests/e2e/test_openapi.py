"""Живые /openapi.json всех четырёх сервисов флота (scripts/fleet.py): openapi-spec-validator их принимает,
защищённые операции объявляют OAuth 2.0 client credentials с настоящим адресом токенов, и этот адрес в
самом деле выдаёт токен так, как его попросит кнопка Authorize в /docs (форма + HTTP Basic)."""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..test_openapi import check_schema
from .conftest import RunningFleet, wait_for

pytestmark = pytest.mark.e2e

SERVICES = {"admin-module": 8000, "storage-element-01": 8010, "ingester-module": 8020, "query-module": 8030}


def test_live_openapi_of_every_service(fleet: RunningFleet) -> None:
    token_urls = set()
    for name, port in SERVICES.items():
        r = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=30)
        assert r.status_code == 200, (name, r.text[:300])
        schema = r.json()
        url = schema["components"]["securitySchemes"]["OAuth2"]["flows"]["clientCredentials"]["tokenUrl"]
        check_schema(schema, url)
        token_urls.add(url)
    assert token_urls == {"http://127.0.0.1:8000/api/v1/auth/token"}
    # так токен берёт Swagger UI по схеме clientCredentials: grant_type в форме, учётные данные в Basic
    creds = fleet.secrets()
    r = httpx.post(token_urls.pop(), data={"grant_type": "client_credentials", "scope": "readonly"},
                   auth=(creds["INITIAL_CLIENT_ID"], creds["INITIAL_CLIENT_SECRET"]), timeout=30)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    # и с этим токеном защищённая операция query отвечает, а без него — 401 problem+json, как обещает схема
    assert httpx.get("http://127.0.0.1:8030/api/v1/search", params={"q": "x"},
                     headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 200
    r = httpx.get("http://127.0.0.1:8030/api/v1/search", params={"q": "x"}, timeout=30)
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


# --- клиент, собранный по живой схеме (openapi-python-client) ----------------------------------------
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


def _generate(tmp: Path, package: str, port: int) -> Any:
    """Собрать клиент по /openapi.json работающего сервиса и импортировать его как пакет ``package``."""
    schema = tmp / f"{package}.json"
    schema.write_bytes(httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=30).content)
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(GENERATOR), "generate", "--path", str(schema), "--output-path", str(tmp / package),
                           "--meta", "none"], capture_output=True, text=True, env=env, timeout=300)
    # предупреждение генератора значит «часть схемы не понята» — клиент был бы неполным
    assert done.returncode == 0 and "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    if str(tmp) not in sys.path:
        sys.path.insert(0, str(tmp))
    return importlib.import_module(package)


def _api(package: str, module: str) -> Any:
    return importlib.import_module(f"{package}.api.{module}")


def test_generated_clients_drive_the_fleet(fleet: RunningFleet, tmp_path: Path) -> None:
    clients = {name: _generate(tmp_path, f"gen_{name.split('-')[0]}", port) for name, port in SERVICES.items()}
    admin, storage, ingester, query = (clients[n] for n in SERVICES)

    # токен — операцией issueToken клиента admin, ответ разобран в TokenResponse
    creds = fleet.secrets()
    anonymous = admin.Client(base_url="http://127.0.0.1:8000", raise_on_unexpected_status=True)
    amodels = importlib.import_module("gen_admin.models")
    body = amodels.IssueTokenBody(
        grant_type=amodels.IssueTokenBodyGrantType.CLIENT_CREDENTIALS, client_id=creds["INITIAL_CLIENT_ID"],
        client_secret=creds["INITIAL_CLIENT_SECRET"])
    token = _api("gen_admin", "auth.issue_token").sync_detailed(client=anonymous, body=body)
    assert token.status_code == 200 and type(token.parsed).__name__ == "TokenResponse", token.content
    access = token.parsed.access_token

    def authed(module: Any, port: int) -> Any:
        return module.AuthenticatedClient(base_url=f"http://127.0.0.1:{port}", token=access, timeout=60,
                                          raise_on_unexpected_status=True)

    def parsed(response: Any, status: int, model: str) -> Any:
        assert response.status_code == status, response.content[:500]
        assert type(response.parsed).__name__ == model, (type(response.parsed), response.content[:500])
        return response.parsed

    # admin: страница аккаунтов, 404, 422 (имя длиннее 200), 409 (элемент уже зарегистрирован)
    a = authed(admin, 8000)
    accounts = parsed(_api("gen_admin", "service_accounts.list_accounts").sync_detailed(client=a), 200,
                      "PageAccountOut")
    assert accounts.total >= 1 and accounts.items[0].name
    parsed(_api("gen_admin", "service_accounts.get_account").sync_detailed(str(uuid.uuid4()), client=a), 404,
           "Problem")
    models = importlib.import_module("gen_admin.models")
    bad = parsed(_api("gen_admin", "service_accounts.create_account").sync_detailed(
        client=a, body=models.AccountCreate(name="x" * 300)), 422, "Problem")
    assert bad.status == 422 and bad.detail
    again = parsed(_api("gen_admin", "storage_elements.register").sync_detailed(
        client=a, body=models.RegisterRequest(api_url="http://127.0.0.1:8010")), 409, "Problem")
    assert again.code == "storage_element_exists"

    # ingester: загрузка → UploadResult, 422 (permanent со сроком), 409 (finalize постоянного файла), 404 саги
    i = authed(ingester, 8020)
    imodels = importlib.import_module("gen_ingester.models")
    types = importlib.import_module("gen_ingester.types")
    data = "Сводный отчёт по клиенту".encode() * 100
    upload = _api("gen_ingester", "upload.upload_file")
    uploaded = parsed(upload.sync_detailed(client=i, body=imodels.UploadFileBody(
        file=types.File(payload=io.BytesIO(data), file_name="отчёт клиента.txt", mime_type="text/plain"),
        retention_policy=imodels.UploadFileBodyRetentionPolicy.PERMANENT, tags="клиент,отчёт")), 201, "UploadResult")
    assert uploaded.file_size == len(data) and uploaded.checksum == hashlib.sha256(data).hexdigest()
    assert uploaded.retention_policy.value == "permanent" and set(uploaded.tags) == {"клиент", "отчёт"}
    parsed(upload.sync_detailed(client=i, body=imodels.UploadFileBody(
        file=types.File(payload=io.BytesIO(b"x"), file_name="x.txt"),
        retention_policy=imodels.UploadFileBodyRetentionPolicy.PERMANENT, ttl_days=5)), 422, "Problem")
    conflict = parsed(_api("gen_ingester", "transfer.finalize").sync_detailed(uploaded.file_id, client=i), 409,
                      "Problem")
    assert conflict.code == "already_permanent"
    parsed(_api("gen_ingester", "transfer.get_transaction").sync_detailed(str(uuid.uuid4()), client=i), 404,
           "Problem")
    page = parsed(_api("gen_ingester", "transfer.list_transactions").sync_detailed(client=i), 200,
                  "TransactionPage")
    assert page.limit == 50

    # query: поиск → SearchResponse с FileRecord, метаданные, скачивание (и Range), 404, 422
    q = authed(query, 8030)
    search = _api("gen_query", "search.search_files_get")
    found: Any = wait_for("файл находится поиском", lambda: (
        (page := parsed(search.sync_detailed(client=q, q="клиента"), 200, "SearchResponse")).total_count >= 1, page))
    record = next(r for r in found.results if r.file_id == uploaded.file_id)
    assert type(record).__name__ == "FileRecord" and record.file_size == len(data)
    meta = parsed(_api("gen_query", "files.get_file_metadata").sync_detailed(uploaded.file_id, client=q), 200,
                  "FileRecord")
    assert meta.checksum == uploaded.checksum and meta.storage_element_id == uploaded.storage_element_id
    download = _api("gen_query", "files.download_file")
    assert parsed(download.sync_detailed(uploaded.file_id, client=q), 200, "File").payload.read() == data
    part = parsed(download.sync_detailed(uploaded.file_id, client=q, range_="bytes=0-9"), 206, "File")
    assert part.payload.read() == data[:10]
    parsed(_api("gen_query", "files.get_file_metadata").sync_detailed("нет-такого", client=q), 422, "Problem")
    parsed(_api("gen_query", "files.get_file_metadata").sync_detailed("no-such-file", client=q), 404, "Problem")

    # элемент хранения (схема se-01, постоянный файл — на se-02): метаданные → FileRecord, 404,
    # 409 (режим edit не меняется)
    assert uploaded.storage_element_id == "se-02"
    archive = authed(storage, 8011)
    on_element = parsed(_api("gen_storage", "files.get_file").sync_detailed(uploaded.file_id, client=archive),
                        200, "FileRecord")
    assert on_element.checksum == uploaded.checksum and on_element.version == 1
    parsed(_api("gen_storage", "files.get_file").sync_detailed("no-such-file", client=archive), 404, "Problem")
    smodels = importlib.import_module("gen_storage.models")
    parsed(_api("gen_storage", "element.change_mode").sync_detailed(
        client=authed(storage, 8010), body=smodels.ModeRequest(mode=smodels.ModeRequestMode("rw"))), 409, "Problem")
