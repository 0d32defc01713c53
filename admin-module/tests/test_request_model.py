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
