"""Перенос файлов между элементами (finalize, transfer): сага с журналом в PostgreSQL."""
