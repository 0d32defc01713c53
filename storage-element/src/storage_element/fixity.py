"""Вердикт целостности: файл, чьи байты не совпадают с sha256 из attr.json, не отдаётся ни целиком, ни частью.

Полное чтение сверяет хэш на лету (reader.py). Диапазон так не проверить, поэтому файл один раз хэшируется
целиком, и вердикт «байты сходятся» запоминается вместе с отпечатком сохранённых байт (`Stamp`):
- local — размер, mtime_ns, ctime_ns, inode и устройство: запись в файл, его замена, восстановление из
  холодного хранения меняют отпечаток (ctime не выставить через utime, так что правка с восстановлением
  mtime тоже видна);
- S3 — размер и ETag объекта: любая перезапись объекта даёт новый ETag (отпечаток берёт HEAD).
Вердикт ставят фиксация записи (писатель сам хэшировал записанное), каждое успешное полное чтение и
скраб. Неизвестный или устаревший вердикт — первый Range (и чтение `raw`) сначала хэширует файл целиком:
потоково, кусками в потоке, одна проверка на файл для всех одновременных запросов; потом отдаёт.
Несовпадение — 409 `file_corrupted` и пометка файла повреждённым (как у скраба).

Чего это не ловит: порчу, не меняющую отпечаток, — тихое разрушение носителя (bit rot) без записи в файл,
правку в пределах одного тика часов ФС сразу после записи при том же размере, порчу внутри хранилища S3
без перезаписи объекта. Это работа периодического скраба (scrub.py), он остаётся. Вердикты живут в памяти
процесса: после перезапуска первый Range каждого файла проверяет его заново; хранятся не больше
MAX_VERDICTS последних (вытесняются самые старые).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from typing import TYPE_CHECKING, Any

import brotli

from artstore_common import ProblemError

from .backends import Backend
from .backends.base import Stamp
from .codec import ReadVerifier

if TYPE_CHECKING:
    from .element import Element

_log = logging.getLogger("storage_element.fixity")
# ~0,5 КиБ на запись: 100 000 файлов — порядка 50 МиБ
MAX_VERDICTS = 100_000


def corrupted_problem(file_id: str) -> ProblemError:
    return ProblemError(409, "file_corrupted",
                        f"файл {file_id} повреждён (sha256 не совпадает с attr.json) и не отдаётся; "
                        "восстановите его из резервной копии")


async def hash_stored(backend: Backend, attr: dict[str, Any], stored_size: int) -> str:
    """sha256 исходных байт по сохранённой форме (распаковка, если сжато); потоково, в памяти — кусок."""
    comp = attr.get("compression")
    verifier = ReadVerifier(comp["algorithm"] if comp else None, True)
    async for _ in backend.iter_range(attr["storage_path"], 0, stored_size, verifier):
        pass
    return verifier.hexdigest()


class Fixity:
    def __init__(self, max_entries: int = MAX_VERDICTS) -> None:
        # file_id → (отпечаток, sha256): «байты с этим отпечатком дают этот sha256»
        self._good: dict[str, tuple[Stamp, str]] = {}
        self._max = max_entries
        self._inflight: dict[tuple[str, Stamp, str], asyncio.Future[bool]] = {}
        # сколько раз файл хэшировался целиком ради вердикта (видно в тестах и при отладке)
        self.full_hashes = 0

    def is_good(self, file_id: str, stamp: Stamp, checksum: str) -> bool:
        """Только чтение словаря — можно звать из потока чтения."""
        return self._good.get(file_id) == (stamp, checksum)

    def mark_good(self, file_id: str, stamp: Stamp, checksum: str) -> None:
        self._good.pop(file_id, None)
        self._good[file_id] = (stamp, checksum)
        if len(self._good) > self._max:
            del self._good[next(iter(self._good))]

    def forget(self, file_id: str) -> None:
        self._good.pop(file_id, None)

    async def ensure(self, el: Element, attr: dict[str, Any], stamp: Stamp) -> None:
        """Вердикт для `stamp` есть — сразу; нет — хэш целиком (один на всех ждущих); не сошлось — 409."""
        file_id, checksum = attr["file_id"], attr["checksum"]
        if self.is_good(file_id, stamp, checksum):
            return
        key = (file_id, stamp, checksum)
        task = self._inflight.get(key)
        if task is None:
            task = self._inflight[key] = asyncio.ensure_future(self._verify(el, attr, stamp))
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        # shield: клиент, ушедший посреди проверки, не отменяет её для остальных ждущих
        if not await asyncio.shield(task):
            raise corrupted_problem(file_id)

    async def _verify(self, el: Element, attr: dict[str, Any], stamp: Stamp) -> bool:
        self.full_hashes += 1
        try:
            actual = await hash_stored(el.backend, attr, stamp.size)
        except (zlib.error, brotli.error) as exc:  # битый поток сжатия — тоже повреждение (сбой ввода-вывода — нет)
            actual = f"unreadable: {type(exc).__name__}"
        if actual != attr["checksum"]:
            await el.mark_corrupt(attr, actual)
            return False
        self.mark_good(attr["file_id"], stamp, attr["checksum"])
        return True
