"""Клиент, оборвавший скачивание, — обычный исход (aborted), а не ошибка сервиса с трассировкой.

Настоящий query на сокете (uvicorn в потоке) и настоящий элемент; клиент — голый сокет, который читает
начало большого ответа и закрывает соединение (FIN или RST)."""

from __future__ import annotations

import logging
import socket
import struct
import time
from urllib.parse import urlsplit

import pytest
from query_fleet import Fleet


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _aborted(fleet: Fleet) -> float:
    assert fleet.query is not None
    for line in fleet.http.get(f"{fleet.query.url}/metrics").text.splitlines():
        if line.startswith('artstore_downloads_total{outcome="aborted"}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_client_cutting_download_short_is_not_an_error(fleet: Fleet, reset: bool) -> None:
    fleet.add_element("se-a", "edit")
    fleet.publish()
    size = 32 * 1024 * 1024
    file_id = fleet.put("se-a", "big.bin", bytes(size))
    fleet.start_query(log_level="INFO")
    assert fleet.query is not None
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    try:
        url = urlsplit(fleet.query.url)
        token = fleet.factory.issue("READONLY")
        with socket.create_connection((url.hostname, url.port)) as sock:
            sock.sendall(f"GET /api/v1/files/{file_id}/download HTTP/1.1\r\nHost: {url.netloc}\r\n"
                         f"Authorization: Bearer {token}\r\n\r\n".encode())
            got = b""
            while len(got) < 64 * 1024:
                chunk = sock.recv(65536)
                assert chunk
                got += chunk
            assert got.startswith(b"HTTP/1.1 200")
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        deadline = time.monotonic() + 15
        while _aborted(fleet) < 1:
            assert time.monotonic() < deadline, "скачивание не учтено как aborted"
            time.sleep(0.05)
        # остановка сервера дожидается конца обработки запроса: всё, что он напишет о нём, уже в журнале
        fleet.query.__exit__(None, None, None)
    finally:
        root.removeHandler(records)
    errors = [r for r in records.records if r.levelno >= logging.ERROR]
    traced = [r for r in records.records if r.exc_info or r.exc_text or r.stack_info]
    assert not errors and not traced, [(r.name, r.levelname, r.getMessage(), r.exc_info) for r in errors + traced]
    # одна спокойная строка с исходом aborted — по ней обрыв виден в журнале, а не только в метрике
    aborted = [r for r in records.records if getattr(r, "outcome", None) == "aborted"]
    assert len(aborted) == 1 and aborted[0].levelno == logging.INFO, aborted
    assert 0 < aborted[0].sent_bytes < size and aborted[0].expected_bytes == size
