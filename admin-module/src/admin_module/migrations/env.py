"""Окружение Alembic admin-module: соединение передаёт код (admin_module.migrate), файла alembic.ini нет."""

from admin_module.db import Base
from artstore_common import run_env

run_env(Base.metadata)
