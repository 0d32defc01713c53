"""Запуск: `python -m ingester_module` (или команда `ingester-module`); настройки — из окружения INGESTER_*."""

from artstore_common import run

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    run("ingester_module.app:create_app", settings.host, settings.port, log_level=settings.log_level)


if __name__ == "__main__":
    main()
