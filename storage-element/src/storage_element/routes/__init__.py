"""HTTP-маршруты элемента (`/api/v1`)."""

from __future__ import annotations

from fastapi import Request

from ..element import Element


def element(request: Request) -> Element:
    el: Element = request.app.state.element
    return el
