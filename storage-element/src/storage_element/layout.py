"""Имена и пути файлов на элементе (ARCHITECTURE.md §3).

Имя клиента никогда не становится путём: из него берутся только основа и расширение после очистки,
каталог задаёт время записи, уникальность — id файла.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from pathlib import PurePosixPath

MAX_NAME = 200
ATTR_SUFFIX = ".attr.json"
# символы, недопустимые хотя бы в одной распространённой ФС (Windows, macOS, Linux), и пробелы по краям
_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]')
_FILE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# ключ, который могли создать мы сами: YYYY/MM/DD/HH/имя
_KEY = re.compile(r"^\d{4}/\d{2}/\d{2}/\d{2}/[^/]+$")


def valid_file_id(file_id: str) -> bool:
    # fullmatch: у re.match «$» совпадает и перед завершающим \n — id с переводом строки прошёл бы
    return bool(_FILE_ID.fullmatch(file_id)) and ".." not in file_id


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


def storage_filename(original: str, username: str, file_id: str, when: datetime) -> str:
    """`{stem}_{username}_{YYYYMMDDTHHMMSS}_{uuid}{ext}` не длиннее 200 символов (режется основа)."""
    stem, ext = split_name(original)
    user = clean_component(username, "unknown").replace(" ", "_")[:40]
    tail = f"_{user}_{when.strftime('%Y%m%dT%H%M%S')}_{id_part(file_id)}{ext}"
    room = MAX_NAME - len(tail)
    if room < 1:
        tail = f"_{when.strftime('%Y%m%dT%H%M%S')}_{id_part(file_id)}"[: MAX_NAME - 1]
        room = MAX_NAME - len(tail)
    return stem[:room].rstrip() + tail


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


def content_disposition(filename: str, inline: bool = False) -> str:
    """RFC 6266: ASCII-запасной вариант и filename* с UTF-8, чтобы кириллица доходила как есть."""
    from urllib.parse import quote

    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_").replace("\\", "_")
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 else "_" for ch in ascii_name) or "file"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
