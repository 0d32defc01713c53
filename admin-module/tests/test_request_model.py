"""Тела запросов admin-module отвергают неизвестные поля (опечатка клиента не теряется молча)."""

import pytest
from pydantic import ValidationError

from admin_module.accounts.schemas import AccountCreate
from admin_module.webhooks.schemas import WebhookCreate


@pytest.mark.parametrize(("model", "body"), [
    (AccountCreate, {"name": "x", "role": "USER", "emial": "typo@example.org"}),
    (WebhookCreate, {"url": "http://127.0.0.1:9/h", "events": ["file_uploaded"], "secert": "x"}),
])
def test_unknown_field_is_rejected(model: type, body: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model(**body)


@pytest.mark.parametrize("url", ["https://\x0e", "http://K\x85Ö©", "https://", "http://host:1/x?y=1"])
def test_garbage_element_url_is_rejected(url: str) -> None:
    from admin_module.storage_elements.schemas import DiscoverRequest

    with pytest.raises(ValidationError):
        DiscoverRequest(api_url=url)


def test_offset_beyond_bigint_is_422() -> None:
    import asyncio

    import httpx
    from fastapi import FastAPI

    from admin_module.pagination import PageDep

    app = FastAPI()

    @app.get("/p")
    async def p(page: PageDep) -> dict[str, int]:
        return {"offset": page.offset}

    async def call() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return (await c.get("/p", params={"offset": 2**70})).status_code

    assert asyncio.run(call()) == 422
