"""Фикстуры query-module; помощники — в query_fleet.py (уникальное имя: тесты всех модулей в одном процессе)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from query_fleet import Fleet

from artstore_common.testing import JWKSServer, TokenFactory, TokenServer


@pytest.fixture
def fleet(tmp_path: Path, database_url: str, redis_url: str, redis_namespace: str, token_factory: TokenFactory,
          jwks_server: JWKSServer) -> Iterator[Fleet]:
    tokens = TokenServer(token_factory, sub="sa-query", name="query-module")
    f = Fleet(tmp_path, database_url, redis_url, redis_namespace, token_factory, jwks_server, tokens)
    try:
        yield f
    finally:
        f.close()
        tokens.close()
