"""Окружение Alembic ingester-module: соединение и таблицу версий передаёт код (transfer/models.create_schema)."""

from artstore_common import run_env
from ingester_module.transfer.models import metadata

run_env(metadata)
