"""Хэш и сжатие потока: вызываются в потоке записи/чтения, а не в цикле событий."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from typing import Any

import brotli


class WriteCodec:
    """sha256 исходных байт + необязательное сжатие; `process`/`final` отдаются хранилищу."""

    def __init__(self, algorithm: str | None) -> None:
        self.hasher = hashlib.sha256()
        self.raw_size = 0
        self.algorithm = algorithm
        self._comp: Any = None
        if algorithm == "gzip":
            self._comp = zlib.compressobj(6, zlib.DEFLATED, 31)
        elif algorithm == "brotli":
            self._comp = brotli.Compressor(quality=5)

    def process(self, batch: list[bytes]) -> list[bytes]:
        for b in batch:
            self.hasher.update(b)
            self.raw_size += len(b)
        if self._comp is None:
            return batch
        if self.algorithm == "gzip":
            return [self._comp.compress(b) for b in batch]
        return [self._comp.process(b) for b in batch]

    def final(self) -> list[bytes]:
        if self._comp is None:
            return []
        return [self._comp.flush() if self.algorithm == "gzip" else self._comp.finish()]

    def hexdigest(self) -> str:
        return self.hasher.hexdigest()


def decompressor(algorithm: str) -> Callable[[bytes], bytes]:
    if algorithm == "gzip":
        d = zlib.decompressobj(31)
        return d.decompress
    b = brotli.Decompressor()
    process: Callable[[bytes], bytes] = b.process  # у brotli нет аннотаций
    return process


class ReadVerifier:
    """Распаковка (если нужно) и хэш при полном чтении; сверка — в конце потока."""

    def __init__(self, algorithm: str | None, verify: bool) -> None:
        self._decomp = decompressor(algorithm) if algorithm else None
        self.hasher = hashlib.sha256() if verify else None

    def __call__(self, data: bytes) -> bytes:
        out = self._decomp(data) if self._decomp else data
        if self.hasher is not None:
            self.hasher.update(out)
        return out

    def hexdigest(self) -> str:
        assert self.hasher is not None
        return self.hasher.hexdigest()
