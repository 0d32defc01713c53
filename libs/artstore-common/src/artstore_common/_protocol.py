"""Протокол HTTP uvicorn, который и на неразобранный запрос отвечает problem+json (RFC 9457).

Запрос, который не разобрал сам парсер (сырой UTF-8 в строке запроса, битый заголовок), до приложения не
доходит: uvicorn отвечает голым ``400 text/plain "Invalid HTTP request received."``, и человеку нечего
исправлять. Здесь тот же ответ — с кодом и подсказкой.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ._errors import PROBLEM_CONTENT_TYPE, problem_body

_DETAIL = ("Запрос не разобран как HTTP/1.1 ({msg}). Частая причина — не закодированные символы в адресе: "
           "кириллицу и пробелы в пути и строке запроса передавайте в %-кодировке "
           "(curl: -G --data-urlencode 'q=отчёты').")


def bad_request_payload(msg: str) -> bytes:
    body = problem_body(400, "invalid_http_request", _DETAIL.format(msg=msg.rstrip(".")))
    return json.dumps(body, ensure_ascii=False).encode()


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        payload = bad_request_payload(msg)
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(f"content-type: {PROBLEM_CONTENT_TYPE}\r\n".encode())
        head.append(b"content-length: " + str(len(payload)).encode() + b"\r\nconnection: close\r\n\r\n")
        self.transport.write(b"".join(head) + payload)
        self.transport.close()
