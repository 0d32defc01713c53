"""Локальный журнал операций (WAL) с групповой фиксацией.

Намерение должно быть на диске до того, как файл появится на своём месте, — иначе после сбоя мы
не узнаем, что надо проверить. fsync журнала общий для всех запросов, пришедших за время
предыдущего fsync: при сотнях загрузок в секунду это один fsync на пачку, а не на файл.
Запись о фиксации можно не синхронизировать: потеряв её, восстановление лишь повторно проверит
операцию, которая уже завершена (идемпотентно).

Записи копятся в памяти и уходят в файл в том же потоке, что и fsync: write() в файл, который
соседний поток сейчас синхронизирует, на ext4 ждёт конца fsync — в цикле событий это стопорило бы
все запросы.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

SEGMENT_BYTES = 8 * 1024 * 1024


class Wal:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._fd = -1
        self._buf: list[bytes] = []
        self._segment = 0
        self._size = 0
        self._written = 0
        self._synced = 0
        self._sync_task: asyncio.Task[None] | None = None
        # незавершённые операции по сегментам: сегмент удаляется, когда все его операции закрыты
        self._pending: dict[int, set[str]] = {}
        self._op_segment: dict[str, int] = {}

    # --- чтение при старте -------------------------------------------------------------------
    def segments(self) -> list[Path]:
        return sorted(self.dir.glob("wal-*.log"))

    def read_open_ops(self) -> list[dict[str, Any]]:
        """Намерения без commit/abort из всех сегментов; оборванная последняя строка пропускается."""
        ops: dict[str, dict[str, Any]] = {}
        for seg in self.segments():
            for line in seg.read_bytes().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(rec, dict) or "op_id" not in rec:
                    continue
                if rec.get("phase") == "intent":
                    ops[rec["op_id"]] = rec
                else:
                    ops.pop(rec["op_id"], None)
        return list(ops.values())

    def reset(self) -> None:
        """После восстановления прошлые сегменты не нужны: всё в них завершено или откатано."""
        for seg in self.segments():
            seg.unlink()
        self._fsync_dir()
        self._open_segment(1)

    # --- запись ------------------------------------------------------------------------------
    def _open_segment(self, number: int) -> None:
        if self._fd >= 0:
            # записи старого сегмента должны быть на диске до того, как sync начнёт смотреть на новый
            self._drain(self._fd)
            os.fsync(self._fd)
            os.close(self._fd)
        self._segment = number
        self._fd = os.open(self.dir / f"wal-{number:08d}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._fsync_dir()
        self._size = 0
        self._pending.setdefault(number, set())
        # сегменты, все операции которых уже закрыты, больше не нужны восстановлению
        for seg, pending in list(self._pending.items()):
            if seg != number and not pending:
                del self._pending[seg]
                with contextlib.suppress(FileNotFoundError):
                    (self.dir / f"wal-{seg:08d}.log").unlink()

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _drain(self, fd: int) -> None:
        if self._buf:
            data, self._buf = b"".join(self._buf), []
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]

    def _append(self, rec: dict[str, Any]) -> int:
        line = json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        self._buf.append(line)
        self._size += len(line)
        self._written += 1
        return self._written

    def intent(self, op_id: str, op: str, **data: Any) -> int:
        if self._size >= SEGMENT_BYTES:
            self._open_segment(self._segment + 1)
        self._pending[self._segment].add(op_id)
        self._op_segment[op_id] = self._segment
        return self._append({"phase": "intent", "op_id": op_id, "op": op, **data})

    def close_op(self, op_id: str, phase: str = "commit") -> None:
        self._append({"phase": phase, "op_id": op_id})
        seg = self._op_segment.pop(op_id, None)
        if seg is None:
            return
        pending = self._pending.get(seg)
        if pending is not None:
            pending.discard(op_id)
            if not pending and seg != self._segment:
                del self._pending[seg]
                with contextlib.suppress(FileNotFoundError):
                    (self.dir / f"wal-{seg:08d}.log").unlink()

    async def sync(self, upto: int) -> None:
        """Дождаться, пока запись с номером `upto` окажется на диске (один fsync на группу).

        Номер синхронизированной записи обновляет сама задача fsync: ожидающие просыпаются уже
        с новым значением и не крутятся вхолостую на завершённой задаче.
        """
        while self._synced < upto:
            task = self._sync_task
            if task is None or task.done():
                task = self._sync_task = asyncio.ensure_future(self._fsync(self._written))
            await asyncio.shield(task)

    async def _fsync(self, target: int) -> None:
        fd = self._fd
        # буфер забирается здесь, в цикле событий: всё, что добавят позже, уйдёт со следующей группой
        data, self._buf = self._buf, []

        def _write_sync() -> None:
            view = memoryview(b"".join(data))
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)

        await asyncio.to_thread(_write_sync)
        self._synced = max(self._synced, target)

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                self._drain(self._fd)
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
