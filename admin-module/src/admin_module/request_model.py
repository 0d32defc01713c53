"""База тел запросов: неизвестное поле — 422, а не молчаливая потеря (опечатка клиента видна сразу)."""

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
