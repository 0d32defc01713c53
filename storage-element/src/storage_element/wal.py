"""Локальный журнал операций (WAL) с групповой фиксацией.

Намерение должно быть на диске до того, как файл появится на своём месте, — иначе после сбоя мы
не узнаем, что надо проверить. fsync журнала общий для всех запросов, пришедших за время
предыдущего fsync: при сотнях загрузок в секунду это один fsync на пачку, а не на файл.
Запись о фиксации можно не синхронизировать: потеряв её, восстановление лишь повторно проверит
операцию, которая уже завершена (идемпотентно).

Записи копятся в памяти и уходят в файл в том же потоке, что и fsync: write() в файл, который
соседний поток сейчас синхронизирует, на ext4 ждёт конца fsync — в цикле событий это стопорило бы
все запросы.

Одна плохая запись не мешает старту: нечитаемая строка, запись не того вида, сегмент, который не
открыть, и операция, которую восстановление не смогло разобрать (reconcile.recover), уходят в
карантин — `.wal/quarantine/*.json` с самой записью и ошибкой — и пишутся в журнал на уровне ERROR.
Оборванная последняя строка сегмента — обычный след сбоя посреди записи (её намерение не успело
синхронизироваться, значит файл не публиковался) — пропускается с предупреждением.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from artstore_common import atomic_write

SEGMENT_BYTES = 8 * 1024 * 1024
QUARANTINE_DIR = "quarantine"
_log = logging.getLogger("storage_element.wal")


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
        self.quarantined = 0
        # незавершённые операции по сегментам: сегмент удаляется, когда все его операции закрыты
        self._pending: dict[int, set[str]] = {}
        self._op_segment: dict[str, int] = {}

    # --- чтение при старте -------------------------------------------------------------------
    def segments(self) -> list[Path]:
        return sorted(self.dir.glob("wal-*.log"))

    def read_open_ops(self) -> list[dict[str, Any]]:
        """Намерения без commit/abort из всех сегментов; плохие строки и сегменты — в карантин
        (их число — в `quarantined`)."""
        ops: dict[str, dict[str, Any]] = {}
        self.quarantined = 0
        for seg in self.segments():
            try:
                content = seg.read_bytes()
            except OSError as exc:
                self._quarantine_segment(seg, exc)
                continue
            lines = content.split(b"\n")
            # после последнего \n — пустой хвост (норма) или оборванная запись (сбой посреди write)
            torn = lines.pop()
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                rec, error = _parse(line)
                if rec is None:
                    self.quarantine(line, f"строка {number}: {error}", seg.name)
                elif rec.get("phase") == "intent":
                    ops[rec["op_id"]] = rec
                else:
                    ops.pop(rec["op_id"], None)
            if torn.strip(b"\x00 \t\r"):
                _log.warning("WAL %s: оборванная последняя запись (%d байт) пропущена — сбой посреди записи",
                             seg.name, len(torn))
        return list(ops.values())

    def quarantine(self, entry: dict[str, Any] | bytes, error: str, source: str) -> Path | None:
        """Отложить запись, которую нельзя разобрать или выполнить: файл с записью и ошибкой для оператора.

        Не бросает: если не удалось и это, запись целиком остаётся в журнале (ERROR)."""
        self.quarantined += 1
        doc: dict[str, Any] = {"quarantined_at": _now(), "source": source, "error": error}
        if isinstance(entry, bytes):
            doc["raw"] = entry.decode("utf-8", "backslashreplace")
        else:
            doc["record"] = entry
        text = json.dumps(doc, ensure_ascii=False, default=str)
        try:
            path = self._quarantine_dir() / f"{doc['quarantined_at'].replace(':', '')}-{uuid.uuid4().hex[:12]}.json"
            atomic_write(path, text.encode())
        except Exception as exc:
            _log.error("WAL: запись в карантин не сохранена (%s); запись: %s", exc, text)
            return None
        _log.error("WAL: запись из %s отложена в карантин %s: %s", source, path, error)
        return path

    def _quarantine_segment(self, seg: Path, exc: OSError) -> None:
        """Сегмент не читается целиком: переносим его как есть (rename не читает файл) и оставляем пометку."""
        try:
            target = self._quarantine_dir() / f"{seg.name}.{uuid.uuid4().hex[:8]}"
            os.rename(seg, target)
            moved = str(target)
        except OSError as move_exc:
            moved = f"не перенесён: {move_exc}"
        self.quarantine(b"", f"сегмент не прочитан ({type(exc).__name__}: {exc}); сегмент: {moved}", seg.name)

    def _quarantine_dir(self) -> Path:
        path = self.dir / QUARANTINE_DIR
        if not path.is_dir():
            path.mkdir(exist_ok=True)
            self._fsync_dir()  # каталог карантина должен пережить сбой питания, как и его файлы
        return path

    def reset(self) -> None:
        """После восстановления прошлые сегменты не нужны: всё в них завершено, откатано или в карантине."""
        last = 0
        for seg in self.segments():
            try:
                seg.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                # не удалённый сегмент разберётся ещё раз при следующем старте (восстановление идемпотентно)
                _log.error("WAL: сегмент %s не удалён: %s", seg, exc)
                last = max(last, _segment_number(seg))
        self._fsync_dir()
        self._open_segment(last + 1)

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


def _parse(line: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        rec = json.loads(line)
    except ValueError as exc:  # и UnicodeDecodeError: битые байты
        return None, f"не JSON ({exc})"
    if not isinstance(rec, dict) or not isinstance(rec.get("op_id"), str) or not rec["op_id"]:
        return None, "запись без op_id"
    return rec, ""


def _segment_number(seg: Path) -> int:
    try:
        return int(seg.stem.removeprefix("wal-"))
    except ValueError:
        return 0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
