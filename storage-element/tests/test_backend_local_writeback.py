"""Ранний сброс на диск при записи большого файла: ядру отдаются подряд идущие диапазоны, а итоговый
fsync остаётся (сохранность обеспечивает он)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storage_element.backends import local


def test_large_write_starts_writeback_in_contiguous_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert local.start_writeback is not None, "на Linux sync_file_range должен быть доступен"
    calls: list[tuple[int, int]] = []
    real = local.start_writeback

    def recording(fd: int, offset: int, nbytes: int) -> None:
        calls.append((offset, nbytes))
        real(fd, offset, nbytes)

    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(local, "start_writeback", recording)
    monkeypatch.setattr(local.os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    sink = local.LocalSink(tmp_path / "big.bin")
    block = os.urandom(1 << 20)

    def identity(batch: list[bytes]) -> list[bytes]:
        return batch

    for _ in range(20):
        sink._write([block], identity)
    sink._finish([], identity, lambda: [])
    step = local.WRITEBACK_STEP
    assert calls == [(0, step), (step, step)]
    assert fsyncs, "итоговый fsync обязателен"
    assert (tmp_path / "big.bin").stat().st_size == 20 << 20
