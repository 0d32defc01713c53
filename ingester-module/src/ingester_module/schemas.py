"""Схемы ответов ingester для OpenAPI: клиент, собранный по схеме (openapi-python-client), разбирает ответ в
типы, а не в «что-то JSON». Маршруты отдают готовые словари (горячий путь не пересобирает ответ моделью);
что словари совпадают со схемой, проверяет клиент openapi-python-client в tests/e2e/test_openapi.py."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from artstore_common import SagaState, SagaStep, Timestamp, UploadResult


class ItemError(BaseModel):
    """Ошибка одного файла пакета — те же status/code/detail, что в problem+json одиночного запроса."""

    status: int
    code: str
    detail: str


class BatchUploadItem(BaseModel):
    index: int
    filename: str | None
    status: Literal["created", "error"]
    file: UploadResult | None = None
    error: ItemError | None = None


class BatchUploadResult(BaseModel):
    results: list[BatchUploadItem]
    succeeded: int
    failed: int


class BatchDeleteItem(BaseModel):
    index: int
    file_id: str
    status: Literal["deleted", "error"]
    error: ItemError | None = None


class BatchDeleteResult(BaseModel):
    results: list[BatchDeleteItem]
    succeeded: int
    failed: int


class Transaction(BaseModel):
    """Сага переноса (таблица ingester_transactions)."""

    model_config = ConfigDict(extra="allow")

    id: str
    kind: Literal["finalize", "transfer"]
    file_id: str
    source: str
    target: str
    state: SagaState
    step: SagaStep
    error: str | None = None
    attempts: int = 0
    checksum: str | None = None
    requested_by: str | None = None
    requested_by_type: str | None = Field(None, description="user | service_account")
    requested_by_name: str | None = None
    created_at: Timestamp
    updated_at: Timestamp


class TransactionPage(BaseModel):
    items: list[Transaction]
    total: int
    limit: int
    offset: int
