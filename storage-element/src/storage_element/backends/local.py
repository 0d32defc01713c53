"""Локальная ФС: temp → fsync → rename → fsync(dir), чтение большими кусками в потоке."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ..layout import attr_key
from ..settings import Settings
from .base import READ_CHUNK, Backend, Sink, Stamp, Transform

_log = logging.getLogger("storage_element.backends.local")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Ранний сброс на диск: каждые WRITEBACK_STEP байт просим ядро начать запись уже записанного
# (sync_file_range, SYNC_FILE_RANGE_WRITE — не ждёт завершения). Без этого весь файл копится в страничном
# кэше, и итоговый fsync пишет 512 МиБ уже после того, как тело принято: приём и диск идут по очереди.
# С ним диск пишет, пока принимается остальное, а fsync в конце досбрасывает хвост. Сохранность
# по-прежнему обеспечивает только fsync; этот вызов — лишь подсказка планировщику записи.
WRITEBACK_STEP = 8 * 1024 * 1024
_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> Callable[[int, int, int], None] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):  # не Linux: обходимся итоговым fsync
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int

    def start_writeback(fd: int, offset: int, nbytes: int) -> None:
        fn(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)  # ошибка не важна: всё решит fsync

    return start_writeback


start_writeback = _load_sync_file_range()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def local_stamp(st: os.stat_result) -> Stamp:
    # ctime не выставить через utime: правка с восстановлением mtime (touch -r, rsync -t) всё равно видна
    return Stamp(st.st_size, (st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev))


def _exists(path: Path) -> bool:
    """Как Path.exists, но ошибка доступа или слишком длинное имя — исключение, а не «нет файла»."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def _unlink_all(paths: tuple[Path, ...]) -> None:
    """Удалить каждый путь; ошибка одного не мешает остальным и поднимается после них."""
    first: OSError | None = None
    for path in paths:
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as exc:
            first = first or exc
    if first is not None:
        raise first


def _makedirs(root: Path, rel_dir: str) -> Path:
    """Создаёт каталоги часа; каждый новый каталог фиксируется fsync родителя, иначе он может пропасть."""
    target = root / rel_dir
    if target.is_dir():
        return target
    current = root
    for part in rel_dir.split("/"):
        nxt = current / part
        try:
            nxt.mkdir()
            fsync_dir(current)
        except FileExistsError:
            pass
        current = nxt
    return target


class LocalSink(Sink):
    def __init__(self, path: Path) -> None:
        self.path = path
        # файл открывается в потоке записи при первой пачке: open() на загруженном диске — не для цикла событий
        self.fd = -1
        self.stored_size = 0
        self.writeback_from = 0

    def _write(self, batch: list[bytes], process: Transform) -> None:
        if self.fd < 0:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        out = process(batch)
        data = out[0] if len(out) == 1 else b"".join(out)
        if data:
            _write_all(self.fd, data)
            self.stored_size += len(data)
            pending = self.stored_size - self.writeback_from
            if start_writeback is not None and pending >= WRITEBACK_STEP:
                start_writeback(self.fd, self.writeback_from, pending)
                self.writeback_from = self.stored_size

    async def write(self, batch: list[bytes], process: Transform) -> None:
        await asyncio.to_thread(self._write, batch, process)

    def _finish(self, batch: list[bytes], process: Transform, final: Callable[[], list[bytes]]) -> None:
        self._write(batch, process)
        self._write([], lambda _: final())
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1

    async def finish(self, batch: list[bytes], process: Transform, final: Callable[[], list[bytes]]) -> None:
        await asyncio.to_thread(self._finish, batch, process, final)

    async def abort(self) -> None:
        def _abort() -> None:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

        await asyncio.to_thread(_abort)


class LocalBackend(Backend):
    kind = "local"

    def __init__(self, settings: Settings) -> None:
        self.root = Path(settings.data_dir).resolve()
        self.tmp = self.root / ".tmp"
        self.cold = Path(settings.cold_dir or self.root.parent / "cold").resolve()
        self._free = 0
        self._free_at = -1.0

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(exist_ok=True)

    async def health(self) -> str | None:
        if not await asyncio.to_thread(os.access, self.root, os.W_OK):
            raise OSError(f"каталог данных {self.root} недоступен для записи")
        return None

    def path(self, key: str) -> Path:
        return self.root / key

    def open_sink(self, key: str, op_id: str) -> Sink:
        return LocalSink(self.tmp / f"{op_id}.data")

    def _publish(self, sink: LocalSink, key: str, attr: bytes) -> Stamp:
        attr_tmp = self.tmp / f"{sink.path.stem}.attr"
        fd = os.open(attr_tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, attr)
            os.fsync(fd)
        finally:
            os.close(fd)
        directory = _makedirs(self.root, key.rsplit("/", 1)[0])
        os.rename(sink.path, self.root / key)
        os.rename(attr_tmp, self.root / attr_key(key))
        fsync_dir(directory)
        return local_stamp(os.stat(self.root / key))  # после rename: он меняет ctime

    async def publish(self, sink: Sink, key: str, attr: bytes) -> Stamp:
        assert isinstance(sink, LocalSink)
        return await asyncio.to_thread(self._publish, sink, key, attr)

    async def read_attr(self, key: str) -> bytes | None:
        try:
            return await asyncio.to_thread((self.root / attr_key(key)).read_bytes)
        except (FileNotFoundError, NotADirectoryError):
            return None

    async def write_attr(self, key: str, attr: bytes) -> None:
        from artstore_common import atomic_write

        await asyncio.to_thread(atomic_write, self.root / attr_key(key), attr)

    async def data_size(self, key: str) -> int | None:
        try:
            return (await asyncio.to_thread(os.stat, self.root / key)).st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    async def stamp(self, key: str) -> Stamp | None:
        try:
            return local_stamp(await asyncio.to_thread(os.stat, self.root / key))
        except (FileNotFoundError, NotADirectoryError):
            return None

    async def iter_range(self, key: str, start: int, end: int, transform: Callable[[bytes], bytes] | None = None,
                         on_stamp: Callable[[Stamp], None] | None = None) -> AsyncIterator[bytes]:
        """Чтение с упреждением: следующий кусок читается (и хэшируется) в потоке, пока цикл событий
        отправляет текущий, — чтение, sha256 и отправка идут на разных ядрах."""
        fh = await asyncio.to_thread(open, self.root / key, "rb", buffering=0)
        fd = fh.fileno()
        if on_stamp is not None:
            on_stamp(local_stamp(os.fstat(fd)))

        def _read(pos: int, n: int) -> tuple[int, bytes]:
            data = os.pread(fd, n, pos)
            return len(data), (transform(data) if transform is not None and data else data)

        pending: asyncio.Future[tuple[int, bytes]] | None = None
        try:
            pos = start
            if pos < end:
                pending = asyncio.ensure_future(asyncio.to_thread(_read, pos, min(READ_CHUNK, end - pos)))
            while pending is not None:
                got, chunk = await pending
                pending = None
                if not got:
                    break
                pos += got
                if pos < end:
                    pending = asyncio.ensure_future(asyncio.to_thread(_read, pos, min(READ_CHUNK, end - pos)))
                if chunk:
                    yield chunk
        finally:
            if pending is not None:
                # поток чтения нельзя прервать: дожидаемся его, прежде чем закрыть файл
                with contextlib.suppress(BaseException):
                    await asyncio.shield(pending)
            fh.close()

    def _delete(self, key: str) -> None:
        # attr.json первым и отдельно: не удалился — данные не трогаем (иначе остался бы attr.json без данных)
        _unlink_all((self.root / attr_key(key),))
        _unlink_all((self.root / key, self.cold / key))
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            fsync_dir((self.root / key).parent)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    def _rollback(self, key: str, op_id: str) -> None:
        _unlink_all((self.tmp / f"{op_id}.data", self.tmp / f"{op_id}.attr"))
        if _exists(self.root / key) != _exists(self.root / attr_key(key)):
            self._delete(key)

    async def rollback(self, key: str, op_id: str) -> None:
        await asyncio.to_thread(self._rollback, key, op_id)

    async def cleanup_tmp(self) -> int:
        def _clean() -> int:
            n = 0
            for p in self.tmp.iterdir():
                try:
                    p.unlink()
                    n += 1
                except (FileNotFoundError, IsADirectoryError):
                    pass
                except OSError as exc:
                    # один неудаляемый остаток не должен мешать старту; он виден в журнале
                    _log.error("временный файл %s не удалён: %s", p, exc)
            return n

        return await asyncio.to_thread(_clean)

    async def list_keys(self) -> AsyncIterator[list[str]]:
        def _ls(rel: str) -> list[tuple[str, bool]]:
            try:
                with os.scandir(self.root / rel if rel else self.root) as it:
                    return [(e.name, e.is_dir(follow_symlinks=False)) for e in it if not e.name.startswith(".")]
            except FileNotFoundError:
                return []

        stack = [""]
        while stack:
            rel = stack.pop()
            entries = await asyncio.to_thread(_ls, rel)
            files = [f"{rel}/{n}" if rel else n for n, is_dir in entries if not is_dir]
            stack.extend(sorted((f"{rel}/{n}" if rel else n for n, d in entries if d), reverse=True))
            if files:
                yield files

    def _archive(self, key: str) -> None:
        src, dst = self.root / key, self.cold / key
        if not src.exists():
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copyfile(src, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
        fsync_dir(dst.parent)
        src.unlink()
        fsync_dir(src.parent)

    async def archive(self, key: str) -> None:
        await asyncio.to_thread(self._archive, key)

    def _restore(self, key: str) -> None:
        src, dst = self.cold / key, self.root / key
        if dst.exists():
            return
        tmp = self.tmp / f"restore-{os.getpid()}-{abs(hash(key))}.data"
        shutil.copyfile(src, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
        fsync_dir(dst.parent)

    async def restore(self, key: str) -> None:
        await asyncio.to_thread(self._restore, key)

    async def in_cold(self, key: str) -> bool:
        return await asyncio.to_thread((self.cold / key).exists)

    def disk_free(self) -> int | None:
        # statvfs на каждый запрос заметен при сотнях загрузок в секунду; полсекунды устаревания безвредны,
        # потому что обещанное место учитывается отдельно (Element.reserved)
        now = time.monotonic()
        if now - self._free_at > 0.5:
            self._free = shutil.disk_usage(self.root).free
            self._free_at = now
        return self._free
