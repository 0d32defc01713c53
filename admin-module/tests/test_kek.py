"""Development-KEK: записан надёжно, пустой файл — ясная ошибка, а не новый ключ поверх старых секретов."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from admin_module.security import resolve_kek


def test_generated_kek_is_written_durably_and_reused(tmp_path: Path) -> None:
    first = resolve_kek("", "development", tmp_path / "data")
    path = tmp_path / "data" / "admin-kek.txt"
    assert path.read_text().strip() == first
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert not list(path.parent.glob(".admin-kek.txt.*"))  # временный файл переименован
    assert resolve_kek("", "development", tmp_path / "data") == first


def test_empty_kek_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "admin-kek.txt").write_text("")
    with pytest.raises(RuntimeError, match="пуст"):
        resolve_kek("", "development", tmp_path)


def test_production_requires_configured_kek(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="ADMIN_KEY_ENCRYPTION_KEY"):
        resolve_kek("", "production", tmp_path)
    assert resolve_kek("k" * 40, "production", tmp_path) == "k" * 40
