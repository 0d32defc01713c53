"""Криптографические примитивы admin-module: шифрование секретов в БД, bcrypt, хэши токенов, секреты."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from pathlib import Path

import bcrypt
from cryptography.fernet import Fernet, InvalidToken

from artstore_common import atomic_write

_log = logging.getLogger("admin_module.security")


class SecretBox:
    """Симметричное шифрование (Fernet: AES-128-CBC + HMAC) ключом, выведенным из KEK."""

    def __init__(self, key_material: str) -> None:
        # Из любой строки — стабильный 32-байтовый ключ; формат KEK не навязываем оператору.
        digest = hashlib.sha256(b"artstore-admin-kek:" + key_material.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise RuntimeError(
                "не удалось расшифровать секрет из БД: ADMIN_KEY_ENCRYPTION_KEY не тот, с которым он зашифрован"
            ) from exc


def resolve_kek(configured: str, environment: str, data_dir: Path) -> str:
    """KEK из настроек; в development — сгенерированный и сохранённый в data_dir (с предупреждением)."""
    if configured:
        return configured
    if environment != "development":
        raise RuntimeError("ADMIN_KEY_ENCRYPTION_KEY не задан")
    path = data_dir / "admin-kek.txt"
    if path.is_file():
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            # новый ключ здесь тихо сделал бы нечитаемыми все секреты, зашифрованные прежним
            raise RuntimeError(f"{path} пуст (сбой питания до записи на диск?): восстановите его из резервной "
                               "копии или задайте ADMIN_KEY_ENCRYPTION_KEY")
    else:
        value = secrets.token_urlsafe(32)
        # без fsync после сбоя питания файл мог вернуться пустым — вместе с ключом всех секретов в БД
        atomic_write(path, (value + "\n").encode())
    _log.warning("ADMIN_KEY_ENCRYPTION_KEY не задан: development-ключ из %s; в production задайте его явно", path)
    return value


# bcrypt учитывает не больше 72 байт, а bcrypt 5 на длинном секрете бросает ValueError (→ 500): пароль из
# 40 кириллических букв — уже 80 байт. Поэтому в bcrypt идёт base64(sha256(секрет)) — 44 байта при любой длине,
# без NUL-байтов (их bcrypt тоже не переносит), и энтропия длинной фразы не обрезается на 72-м байте.
# Такие хэши помечены префиксом: проверка по метке однозначна — без второго прогона bcrypt на каждую
# неудачу и без входа по самому base64(sha256(пароля)) через «старую» ветку.
PREHASH_PREFIX = "$sha256b64$"
_BCRYPT_MAX_BYTES = 72


def _prehash(secret: str) -> bytes:
    return base64.b64encode(hashlib.sha256(secret.encode()).digest())


def hash_secret(secret: str, rounds: int) -> str:
    return PREHASH_PREFIX + bcrypt.hashpw(_prehash(secret), bcrypt.gensalt(rounds)).decode()


def check_secret(secret: str, hashed: str) -> bool:
    if hashed.startswith(PREHASH_PREFIX):
        candidate, stored = _prehash(secret), hashed[len(PREHASH_PREFIX):]
    else:
        # Хэши, созданные до предхэширования (голый bcrypt): длиннее 72 байт такой секрет не мог быть задан.
        candidate, stored = secret.encode(), hashed
        if len(candidate) > _BCRYPT_MAX_BYTES:
            return False
    try:
        return bcrypt.checkpw(candidate, stored.encode())
    except ValueError:
        return False


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def sign_body(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
