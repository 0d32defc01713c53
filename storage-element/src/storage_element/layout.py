"""Имена и пути файлов на элементе (docs/architecture.md §3.1).

Имя клиента никогда не становится путём: из него берутся только основа и расширение после очистки,
каталог задаёт время записи, уникальность — id файла.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from pathlib import PurePosixPath

ATTR_SUFFIX = ".attr.json"
# ФС ограничивают имя 255 байтами (не символами: буква кириллицы — 2 байта UTF-8). Самое длинное имя,
# которое элемент создаёт рядом с файлом, — временный attr.json у atomic_write:
# `.{имя}.attr.json.XXXXXXXX.tmp` (+24 байта); ему тоже надо уместиться.
FS_NAME_BYTES = 255
MAX_NAME_BYTES = FS_NAME_BYTES - len(ATTR_SUFFIX) - len("..XXXXXXXX.tmp")
# символы, недопустимые хотя бы в одной распространённой ФС (Windows, macOS, Linux), и пробелы по краям
_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]')
# ключ, который могли создать мы сами: YYYY/MM/DD/HH/имя
_KEY = re.compile(r"^\d{4}/\d{2}/\d{2}/\d{2}/[^/]+$")


def clean_component(text: str, fallback: str) -> str:
    """Безопасный кусок имени: кириллица и прочие буквы остаются, опасное — в «_»."""
    text = unicodedata.normalize("NFC", text)
    # невидимые символы форматирования (в т.ч. RLO U+202E) подменяют видимое расширение имени
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = _UNSAFE.sub("_", text).strip().lstrip(".").strip()
    text = re.sub(r"\s+", " ", text)
    return text or fallback


def split_name(original: str) -> tuple[str, str]:
    """(основа, расширение) из имени клиента; путь в имени отбрасывается целиком."""
    base = original.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem or len(ext) > 16 or not ext.isalnum():
        return clean_component(base, "file"), ""
    return clean_component(stem, "file"), "." + clean_component(ext, "bin").lower()


def id_part(file_id: str) -> str:
    try:
        return uuid.UUID(file_id).hex
    except ValueError:
        return clean_component(file_id, "id").replace(" ", "_")


def _cut(text: str, limit: int) -> str:
    """Не длиннее `limit` байт UTF-8; режется по границе символа (оборванный хвост символа отбрасывается)."""
    return text.encode()[: max(limit, 0)].decode("utf-8", "ignore").rstrip()


def _nbytes(text: str) -> int:
    return len(text.encode())


def storage_filename(original: str, username: str, file_id: str, when: datetime) -> str:
    """`{stem}_{username}_{YYYYMMDDTHHMMSS}_{uuid}{ext}` не длиннее MAX_NAME_BYTES байт.

    Режется основа; если и одной её буквы не уместить — имя пользователя; без них обоих не уместится
    только неприродный id/расширение, тогда хвост режется целиком (уникальность держит каталог часа + id).
    """
    stem, ext = split_name(original)
    user = clean_component(username, "unknown").replace(" ", "_")[:40]
    fixed = f"_{when.strftime('%Y%m%dT%H%M%S')}_{id_part(file_id)}{ext}"
    room = MAX_NAME_BYTES - _nbytes(f"_{user}{fixed}")
    if room >= _nbytes(stem[0]):
        return _cut(stem, room) + f"_{user}{fixed}"
    first = stem[0]
    user = _cut(user, MAX_NAME_BYTES - _nbytes(first) - _nbytes(f"_{fixed}"))
    if user:
        return f"{first}_{user}{fixed}"
    tail = _cut(fixed, MAX_NAME_BYTES - _nbytes(first))
    return first + tail


def storage_dir(when: datetime) -> str:
    return when.strftime("%Y/%m/%d/%H")


def make_key(original: str, username: str, file_id: str, when: datetime) -> str:
    return f"{storage_dir(when)}/{storage_filename(original, username, file_id, when)}"


def attr_key(key: str) -> str:
    return key + ATTR_SUFFIX


def valid_key(key: str) -> bool:
    """Ключ из attr.json/WAL проверяется, прежде чем стать путём: вдруг файл подложен руками."""
    if not _KEY.fullmatch(key) or "\x00" in key:
        return False
    parts = PurePosixPath(key).parts
    return all(p not in ("", ".", "..") and not p.startswith(".") for p in parts)

