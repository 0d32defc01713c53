"""Хранилища данных элемента: локальная ФС и S3 с одной раскладкой ключей."""

from __future__ import annotations

from ..settings import Settings
from .base import Backend, Sink, Transform
from .local import LocalBackend


def make_backend(settings: Settings) -> Backend:
    if settings.storage_type == "s3":
        from .s3 import S3Backend

        return S3Backend(settings)
    return LocalBackend(settings)


__all__ = ["Backend", "LocalBackend", "Sink", "Transform", "make_backend"]
