"""Живые /openapi.json всех четырёх сервисов флота (scripts/fleet.py): openapi-spec-validator их принимает,
защищённые операции объявляют OAuth 2.0 client credentials с настоящим адресом токенов, и этот адрес в
самом деле выдаёт токен так, как его попросит кнопка Authorize в /docs (форма + HTTP Basic)."""

from __future__ import annotations

import httpx
import pytest

from ..test_openapi import check_schema
from .conftest import RunningFleet

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
