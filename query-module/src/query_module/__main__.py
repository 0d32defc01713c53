"""Запуск: `python -m query_module` (или команда `query-module`); настройки — из окружения QUERY_*."""

from artstore_common import run

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    run("query_module.app:create_app", settings.host, settings.port, log_level=settings.log_level)


if __name__ == "__main__":
    main()
