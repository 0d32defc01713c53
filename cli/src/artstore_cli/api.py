"""HTTP к сервисам ArtStore: адреса, токен client credentials (кэш с его сроком), разбор ошибок.

Ошибка сервиса — problem+json RFC 9457 (``detail``), ошибка выдачи токена — RFC 6749 §5.2
(``error_description``): пользователь видит текст сервера, а не код состояния.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from .state import Store

DEFAULT_ADMIN_URL = "http://127.0.0.1:8000"
DEFAULT_INGESTER_URL = "http://127.0.0.1:8020"
DEFAULT_QUERY_URL = "http://127.0.0.1:8030"
TOKEN_PATH = "/api/v1/auth/token"  # noqa: S105 — путь, не секрет
# Токен обновляется заранее: длинная загрузка не должна получить 401 посреди куска.
REFRESH_MARGIN = 120.0


class CliError(Exception):
    """Ошибка, которую клиент печатает как есть и завершается с ненулевым кодом."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def problem(resp: httpx.Response, action: str) -> CliError:
    """Ответ с ошибкой → CliError с ``detail`` (problem+json) или ``error_description`` (OAuth)."""
    body: Any = None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("error_description") or body.get("title") or body.get("error")
        code = body.get("code") or body.get("error")
        errors = body.get("errors")
        if isinstance(errors, list) and errors and not detail:
            detail = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict))
        if detail:
            return CliError(f"{action}: {detail} (HTTP {resp.status_code}"
                            + (f", {code})" if code else ")"), resp.status_code, str(code) if code else None)
    text = resp.text.strip()[:300] if resp.text else resp.reason_phrase
    return CliError(f"{action}: HTTP {resp.status_code} {text}", resp.status_code)


@dataclass
class Session:
    admin_url: str
    ingester_url: str
    query_url: str
    store: Store = field(default_factory=Store)
    timeout: float = 60.0
    _http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=httpx.Timeout(self.timeout, connect=10.0), follow_redirects=False)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    # --- токен ---------------------------------------------------------------------------------------
    def login(self, client_id: str, client_secret: str, scope: str | None) -> dict[str, Any]:
        creds = {"admin_url": self.admin_url.rstrip("/"), "client_id": client_id, "client_secret": client_secret,
                 "scope": scope or None}
        token = self._fetch_token(creds)
        self.store.save_credentials({**creds, **token})
        return token

    def _fetch_token(self, creds: dict[str, Any]) -> dict[str, Any]:
        data = {"grant_type": "client_credentials"}
        if creds.get("scope"):
            data["scope"] = str(creds["scope"])
        url = str(creds["admin_url"]) + TOKEN_PATH
        try:
            resp = self.http.post(url, data=data, auth=(str(creds["client_id"]), str(creds["client_secret"])))
        except httpx.HTTPError as exc:
            raise unreachable(url, exc) from exc
        if resp.status_code != 200:
            raise problem(resp, "токен не выдан")
        body = resp.json()
        return {"access_token": body["access_token"], "token_scope": body.get("scope", ""),
                "expires_at": time.time() + float(body.get("expires_in", 0))}

    def token(self, *, force: bool = False) -> str:
        creds = self.store.credentials()
        if not creds.get("client_id"):
            raise CliError("нет сохранённого входа: выполните artstore-cli login")
        if creds.get("admin_url") != self.admin_url.rstrip("/"):
            raise CliError(f"вход сохранён для {creds.get('admin_url')}, а не для {self.admin_url}: "
                           "выполните artstore-cli login снова")
        if not force and creds.get("access_token") and float(creds.get("expires_at", 0)) - REFRESH_MARGIN > time.time():
            return str(creds["access_token"])
        creds.update(self._fetch_token(creds))
        self.store.save_credentials(creds)
        return str(creds["access_token"])

    def auth(self, *, force: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(force=force)}"}

    # --- запросы -------------------------------------------------------------------------------------
    def request(self, method: str, url: str, action: str, *, ok: tuple[int, ...] = (200,),
                **kwargs: Any) -> httpx.Response:
        """Запрос с токеном; на 401 — один повтор со свежим токеном (ключи могли смениться)."""
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in (0, 1):
            try:
                resp = self.http.request(method, url, headers={**headers, **self.auth(force=attempt > 0)}, **kwargs)
            except httpx.HTTPError as exc:
                raise unreachable(url, exc) from exc
            if resp.status_code != 401 or attempt:
                break
        if resp.status_code not in ok:
            raise problem(resp, action)
        return resp


def unreachable(url: str, exc: Exception) -> CliError:
    return CliError(f"{url} недоступен ({type(exc).__name__}: {exc}); сервис запущен? адрес — в --help")
