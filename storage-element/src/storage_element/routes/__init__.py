"""HTTP-маршруты элемента (`/api/v1`)."""

from __future__ import annotations

from fastapi import Request

from ..element import Element


def element(request: Request) -> Element:
    return request.app.state.element  # type: ignore[no-any-return]
