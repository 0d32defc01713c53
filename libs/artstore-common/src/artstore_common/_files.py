"""Контракт файла между сервисами: правило id, метаданные записи (заголовок ``X-Artstore-Meta``),
``Content-Disposition``. Один модуль на всех — две копии правил расходятся (так уже было: одна
служба пропускала ``..`` в id, другая нет).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ._errors import ProblemError

# id файла попадает в путь запроса к элементу (с сервисным токеном ADMIN): «..» стал бы сегментом пути,
# который клиент HTTP нормализует, а «%3F», «#», NUL и перевод строки переписали бы запрос.
FILE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
FILE_ID_RULE = "латиница, цифры, «-», «_», «.» (до 128 символов, без «..»)"
_FILE_ID = re.compile(FILE_ID_PATTERN)


def valid_file_id(file_id: str) -> bool:
    # fullmatch: у re.match «$» совпадает и перед завершающим \n — id с переводом строки прошёл бы
    return bool(_FILE_ID.fullmatch(file_id)) and ".." not in file_id


def _check_file_id(value: str) -> str:
    if not valid_file_id(value):
        raise ValueError(f"недопустимый id файла: {FILE_ID_RULE}")
    return value


# Параметр пути ``{file_id}`` во всех сервисах. Шаблон — только в схеме OpenAPI: проверяет валидатор, он же
# отсекает «..» (регулярные выражения pydantic не знают просмотра вперёд) и говорит по-человечески.
FileId = Annotated[str, Path(description=f"Идентификатор файла: {FILE_ID_RULE}",
                             json_schema_extra={"pattern": FILE_ID_PATTERN}),
                   AfterValidator(_check_file_id)]


def segment(value: str) -> str:
    """Сегмент пути запроса к элементу: значение не может дописать к запросу свой путь или query."""
    return quote(value, safe="")


# --- метаданные записи ------------------------------------------------------------------------------
RetentionPolicy = Literal["temporary", "permanent"]
CompressionAlgorithm = Literal["gzip", "brotli"]


class FileMeta(BaseModel):
    """Что пишущий сервис (ingester, сага переноса) сообщает элементу о новом файле.

    На элемент приходит в заголовке ``X-Artstore-Meta`` (base64url от JSON) или в теле ``POST /uploads``.
    """

    model_config = ConfigDict(extra="ignore")

    original_filename: str = Field(min_length=1, max_length=1024)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    created_by_id: str | None = Field(default=None, max_length=128)
    created_by_username: str = Field(default="unknown", max_length=128)
    description: str | None = Field(default=None, max_length=4096)
    tags: list[str] = Field(default_factory=list, max_length=100)
    metadata: dict[str, Any] = Field(default_factory=dict)
    retention_policy: RetentionPolicy = "temporary"
    ttl_days: int | None = Field(default=None, ge=1, le=36500)
    expires_at: datetime | None = None
    compression_algorithm: CompressionAlgorithm | None = None
    created_at: datetime | None = None

    @field_validator("original_filename", "content_type", "created_by_id", "created_by_username", "description",
                     "metadata", "tags")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """PostgreSQL не хранит NUL в text/jsonb, JSON — NaN/Infinity: такие значения отвергаются сразу,
        до записи на диск, иначе attr.json лёг бы рядом с данными, а строка кэша — нет."""
        problem = _unstorable(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        out: list[str] = []
        for t in tags:
            t = str(t).strip()
            if t and t not in out:
                out.append(t[:100])
        return out


def _unstorable(value: Any, depth: int = 0) -> str | None:
    if depth > 20:
        return "слишком глубокая вложенность"
    if isinstance(value, str):
        return "символ NUL (\\u0000) недопустим" if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else "NaN и бесконечность недопустимы в JSON"
    if isinstance(value, dict):
        for k, v in value.items():
            problem = _unstorable(k, depth + 1) or _unstorable(v, depth + 1)
            if problem:
                return problem
    if isinstance(value, list):
        for v in value:
            problem = _unstorable(v, depth + 1)
            if problem:
                return problem
    return None


def encode_meta(meta: FileMeta | dict[str, Any]) -> str:
    """Значение заголовка ``X-Artstore-Meta``: base64url без выравнивания от компактного JSON."""
    data = meta.model_dump(mode="json", exclude_none=True) if isinstance(meta, FileMeta) else meta
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_meta(value: str | None) -> FileMeta:
    """Разбор ``X-Artstore-Meta``; любая ошибка — 422 ``invalid_meta`` с причиной."""
    if not value:
        raise ProblemError(422, "invalid_meta", "нужен заголовок X-Artstore-Meta: base64url(JSON) с original_filename")
    value = value.strip()
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ProblemError(422, "invalid_meta", f"X-Artstore-Meta не разобран: ожидается base64url от JSON ({exc})") \
            from exc
    return meta_from_obj(data)


def meta_from_obj(data: Any) -> FileMeta:
    if not isinstance(data, dict):
        raise ProblemError(422, "invalid_meta", "метаданные файла должны быть JSON-объектом")
    try:
        return FileMeta.model_validate(data)
    except ValidationError as exc:
        first = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise ProblemError(422, "invalid_meta", f"метаданные файла не прошли проверку: {first}") from exc


# --- файл глазами клиента (ответы API) ------------------------------------------------------------
# Время — строкой ISO 8601, как оно лежит в attr.json: ответ отдаётся без пересборки, а клиент, собранный
# по OpenAPI, всё равно разбирает его как date-time.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class FileRecord(BaseModel):
    """Файл в ответах query (метаданные, поиск) и элемента: поля attr.json и где он лежит.

    Схема документирует ответ; лишние поля (новые версии attr.json) клиент получает как есть.
    """

    model_config = ConfigDict(extra="allow")

    file_id: str
    original_filename: str
    file_size: int
    content_type: str = "application/octet-stream"
    checksum: str | None = Field(None, description="sha256 содержимого, hex")
    storage_filename: str | None = None
    storage_path: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    created_by_id: str | None = None
    created_by_username: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    retention_policy: RetentionPolicy | None = None
    expires_at: Timestamp | None = None
    compression: dict[str, Any] | None = Field(None, description="как сжат на диске: algorithm, original_size")
    storage_element_id: str | None = None
    storage_element_mode: str | None = Field(None, description="режим элемента: edit | rw | ro | ar")
    version: int | None = Field(None, description="счётчик правок метаданных (docs/replication.md §6)")
    corrupted: bool | None = Field(None, description="true — фиксити нашла расхождение sha256")
    rank: float | None = Field(None, description="релевантность в результатах поиска")


class UploadResult(BaseModel):
    """Ответ на загрузку (multipart, пакет, завершённая tus): docs/architecture.md §2."""

    model_config = ConfigDict(extra="allow")

    file_id: str
    original_filename: str
    file_size: int
    checksum: str = Field(description="sha256 содержимого, hex")
    uploaded_at: Timestamp
    storage_element_id: str
    retention_policy: RetentionPolicy
    storage_filename: str | None = None
    expires_at: Timestamp | None = None
    content_type: str | None = None
    compression: dict[str, Any] | None = None
    tags: list[str] = Field(default_factory=list)


# --- Content-Disposition ---------------------------------------------------------------------------
_RU = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
               ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s",
                "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"], strict=True))


def _translit(text: str) -> str:
    out = []
    for ch in text:
        low = ch.lower()
        if low in _RU:
            sub = _RU[low]
            out.append(sub.capitalize() if ch != low else sub)
        else:
            out.append(ch)
    return "".join(out)


def _ascii(text: str) -> str:
    text = unicodedata.normalize("NFKD", _translit(text)).encode("ascii", "ignore").decode()
    return "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in text).strip(" ._")


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266 + RFC 8187: точное имя в ``filename*`` (UTF-8) и транслитерированное ASCII-имя в ``filename``
    для клиентов, которые ``filename*`` не читают (``curl -OJ``): «Отчёт.pdf» → ``Otchet.pdf``, а не ``_____.pdf``."""
    stem, dot, ext = filename.rpartition(".")
    if not dot:
        stem, ext = filename, ""
    ascii_ext = _ascii(ext)
    fallback = (_ascii(stem) or "download") + (f".{ascii_ext}" if ascii_ext else "")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
