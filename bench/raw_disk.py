"""Базовая линия «голого диска» для сравнения с элементом хранения: та же работа без HTTP и БД.

64 KiB: запись во временный файл + fsync + rename + fsync(каталога), 16 потоков (как 16 клиентов);
большой файл: запись 1 MiB блоками + fsync (как есть и с ранним сбросом sync_file_range каждые 8 MiB —
так пишет элемент), затем чтение. ``.venv/bin/python bench/raw_disk.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def small_ops(root: Path, n: int, threads: int) -> float:
    payload = os.urandom(64 * 1024)
    root.mkdir(parents=True, exist_ok=True)

    def one(i: int) -> None:
        tmp = root / f".tmp-{i}"
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, root / f"f-{i}")
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
    return n / (time.perf_counter() - started)


def large(root: Path, mib: int, early_writeback: bool = False) -> tuple[float, float]:
    from storage_element.backends.local import WRITEBACK_STEP, start_writeback

    block = os.urandom(1 << 20)
    path = root / "large.bin"
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    with open(path, "wb", buffering=0) as fh:
        flushed = 0
        for i in range(1, mib + 1):
            fh.write(block)
            if early_writeback and start_writeback is not None and (i << 20) - flushed >= WRITEBACK_STEP:
                start_writeback(fh.fileno(), flushed, (i << 20) - flushed)
                flushed = i << 20
        os.fsync(fh.fileno())
    write = mib / (time.perf_counter() - started)
    started = time.perf_counter()
    with open(path, "rb") as fh:
        while fh.read(1 << 20):
            pass
    read = mib / (time.perf_counter() - started)
    return write, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=3000)
    parser.add_argument("--large-mib", type=int, default=512)
    parser.add_argument("--dir", type=Path, default=None, help="каталог на том же диске, что и .data")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="artstore-raw-") as tmp:
        ops = small_ops(Path(tmp) / "small", args.small, 16)
        write, read = large(Path(tmp), args.large_mib)
        write_wb, _ = large(Path(tmp), args.large_mib, early_writeback=True)
    print(json.dumps({"raw_64k_write_fsync_rename_ops_per_s": round(ops, 1),
                      "raw_large_write_fsync_mib_per_s": round(write, 1),
                      "raw_large_write_early_writeback_fsync_mib_per_s": round(write_wb, 1),
                      "raw_large_read_mib_per_s_page_cache": round(read, 1)}, indent=2))


if __name__ == "__main__":
    main()
