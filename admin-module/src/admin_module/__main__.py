"""Запуск: `python -m admin_module` (или команда `admin-module`); настройки — из окружения ADMIN_*."""

from artstore_common import run

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    run("admin_module.app:create_app", settings.host, settings.port, log_level=settings.log_level)


if __name__ == "__main__":
    main()
