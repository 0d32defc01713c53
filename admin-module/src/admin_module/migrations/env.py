"""Окружение Alembic: соединение передаёт код (admin_module.migrate), файла alembic.ini нет."""

from __future__ import annotations

from alembic import context

from admin_module.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("миграции admin-module запускаются из кода: admin_module.migrate.upgrade()")

context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
