"""Запуск: `python -m storage_element` (или команда `storage-element`); настройки — из окружения SE_*."""

from artstore_common import run

from .settings import get_settings


def main() -> None:
    settings = get_settings()
    run("storage_element.app:create_app", settings.host, settings.port, log_level=settings.log_level)


if __name__ == "__main__":
    main()
