"""Размер буферов встроенного PostgreSQL: восьмая часть памяти (машины или cgroup), от 128 МиБ до 2 ГиБ."""

from __future__ import annotations

import pytest

from artstore_common import embedded


@pytest.mark.parametrize(("ram", "buffers"), [(512, 128), (8192, 1024), (64_000, 2048)])
def test_shared_buffers_follow_memory_within_bounds(monkeypatch: pytest.MonkeyPatch, ram: int, buffers: int) -> None:
    monkeypatch.setattr(embedded, "_ram_mib", lambda: ram)
    assert embedded._shared_buffers_mib() == buffers


def test_ram_never_exceeds_physical_memory() -> None:
    import os

    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    assert 0 < embedded._ram_mib() <= physical
