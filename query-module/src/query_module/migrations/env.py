"""Окружение Alembic query-module: соединение и таблицу версий передаёт код (links/store.create_schema)."""

from artstore_common import run_env
from query_module.links.store import metadata

run_env(metadata)
