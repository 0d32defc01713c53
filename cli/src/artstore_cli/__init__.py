"""artstore-cli: ArtStore из терминала (вход, загрузка tus с докачкой, поиск, скачивание с Range и sha256)."""

__version__ = "0.1.0"
