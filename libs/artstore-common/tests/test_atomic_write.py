"""atomic_write: temp → fsync → rename → fsync(каталога), и каждый созданный по пути каталог тоже
зафиксирован fsync родителя — иначе после сбоя питания пропадает каталог вместе с «надёжным» файлом.
Порядок fsync виден через /proc/self/fd: что именно синхронизировано, а не только сколько раз."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from artstore_common import atomic_write


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return calls


def test_new_file_in_new_directories_is_durable(tmp_path: Path, synced: list[str]) -> None:
    target = tmp_path / "a" / "b" / "secrets.json"
    atomic_write(target, b'{"k": "v"}')
    assert target.read_bytes() == b'{"k": "v"}'
    assert target.stat().st_mode & 0o777 == 0o600
    a, b = tmp_path / "a", tmp_path / "a" / "b"
    # создание a фиксирует tmp_path, создание b — a; затем сам файл (ещё под временным именем) и b
    assert synced[:2] == [str(tmp_path), str(a)]
    assert synced[2].startswith(str(b / ".secrets.json.")) and synced[2].endswith(".tmp")
    assert synced[3:] == [str(b)]
    assert [p.name for p in b.iterdir()] == ["secrets.json"]  # временный файл не остался


def test_replace_keeps_old_or_new_and_syncs_only_what_is_needed(tmp_path: Path, synced: list[str]) -> None:
    target = tmp_path / "state.json"
    atomic_write(target, b"old")
    synced.clear()
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert len(synced) == 2 and synced[1] == str(tmp_path)


def test_failed_write_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "state.json"
    atomic_write(target, b"old")

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
