"""Регистрация элементов хранения в реестре admin-module — одна на оба способа запуска: сервис
fleet-init в docker-compose.yml и ``./artstore run`` (scripts/fleet.py импортирует ``run`` отсюда).

Запускается в образе admin-module (там есть httpx) после того, как admin и элементы здоровы; поэтому
файл самодостаточен — только httpx и стандартная библиотека, compose монтирует его в контейнер одним
файлом. Идемпотентна: уже зарегистрированный элемент пропускается, поэтому повторный
``docker compose up`` ничего не ломает. Ненулевой код выхода останавливает запуск ingester и query —
без элементов им некуда писать и негде искать.

Окружение:
  REGISTER_ADMIN_URL      адрес admin-module (http://admin-module:8000)
  REGISTER_CLIENT_ID      сервисный аккаунт с ролью ADMIN (в compose — начальный INITIAL_CLIENT_ID)
  REGISTER_CLIENT_SECRET  его секрет
  REGISTER_ELEMENT_URLS   адреса элементов через запятую, как их видят admin, ingester и query; у
                          реплицированного хватит одного члена: admin заведёт всех из его /info, а
                          остальные члены из списка пропускаются как уже известные
  REGISTER_TIMEOUT        сколько секунд ждать готовности admin и элементов (по умолчанию 180)
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import httpx

API = "/api/v1"


def log(message: str) -> None:
    print(f"[fleet-init] {message}", flush=True)


def wait_ready(client: httpx.Client, url: str, deadline: float) -> None:
    """healthcheck compose уже дождался контейнеров, но admin мог перезапуститься между проверками."""
    last = ""
    while time.monotonic() < deadline:
        try:
            response = client.get(f"{url}/health/ready", timeout=5)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(2)
    raise RuntimeError(f"{url} не готов: {last}")


def get_token(client: httpx.Client, admin: str, client_id: str, secret: str) -> str:
    response = client.post(
        f"{admin}{API}/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=30,
    )
    if response.status_code != 200:
        raise RuntimeError(f"токен не выдан ({response.status_code}): {response.text[:300]} — проверьте "
                           "INITIAL_CLIENT_ID/INITIAL_CLIENT_SECRET (.env, окружение): аккаунт создаётся только "
                           "при первом старте admin, смена секрета потом его не меняет")
    return str(response.json()["access_token"])


def _items(payload: Any) -> list[dict[str, Any]]:
    # Коллекции admin — страница {"items", "total", "limit", "offset"} (не больше 500 за раз);
    # элементов во флоте единицы, поэтому первой страницы хватает.
    if isinstance(payload, dict):
        return list(payload.get("items", []))
    return list(payload) if isinstance(payload, list) else []


def _urls(element: dict[str, Any]) -> set[str]:
    """Адреса элемента в реестре: свой и, у реплицированного, каждого члена (docs/replication.md §8)."""
    members = (element.get("replication") or {}).get("members") or []
    return {str(u).rstrip("/") for u in [element.get("api_url", ""), *(m.get("api_url", "") for m in members)]}


def registered_urls(client: httpx.Client, admin: str) -> set[str]:
    response = client.get(f"{admin}{API}/storage-elements", params={"limit": 500}, timeout=30)
    response.raise_for_status()
    return {url for e in _items(response.json()) for url in _urls(e)}


def register(client: httpx.Client, admin: str, url: str, deadline: float) -> None:
    """Регистрирует элемент; admin сам читает его /api/v1/info, поэтому повторяем, пока элемент стартует."""
    last = ""
    while time.monotonic() < deadline:
        response = client.post(f"{admin}{API}/storage-elements", json={"api_url": url}, timeout=30)
        if response.status_code in (200, 201):
            log(f"элемент {url} зарегистрирован")
            return
        if response.status_code == 409:
            log(f"элемент {url} уже в реестре")
            return
        last = f"{response.status_code} {response.text[:300]}"
        if response.status_code in (400, 401, 403, 404, 405, 422):
            break  # ошибка в запросе или правах — повтор не поможет
        time.sleep(3)
    raise RuntimeError(f"не удалось зарегистрировать {url}: {last}")


def sync(client: httpx.Client, admin: str, urls: list[str]) -> None:
    """Опросить элементы сейчас: admin публикует свежий снимок discovery, и ingester с query, которые
    стартуют следом, видят режим и свободное место без ожидания планового опроса. Не критично."""
    response = client.get(f"{admin}{API}/storage-elements", params={"limit": 500}, timeout=30)
    if response.status_code != 200:
        log(f"реестр не прочитан для опроса элементов ({response.status_code}) — admin опросит их сам")
        return
    wanted = set(urls)
    for element in _items(response.json()):
        if not _urls(element) & wanted:
            continue
        r = client.post(f"{admin}{API}/storage-elements/{element['id']}/sync", timeout=30)
        if r.status_code != 200:
            log(f"элемент {element['id']} не опрошен ({r.status_code}) — admin опросит его сам")


def run(client: httpx.Client, admin: str, client_id: str, secret: str, urls: list[str], deadline: float) -> None:
    wait_ready(client, admin, deadline)
    client.headers["Authorization"] = f"Bearer {get_token(client, admin, client_id, secret)}"
    known = registered_urls(client, admin)
    for url in urls:
        if url in known:
            log(f"элемент {url} уже в реестре")
            continue
        register(client, admin, url, deadline)
        # член реплицированного элемента зарегистрировал и остальных членов — их адреса уже в реестре
        known |= registered_urls(client, admin)
    sync(client, admin, urls)


def main() -> int:
    admin = os.environ.get("REGISTER_ADMIN_URL", "http://admin-module:8000").rstrip("/")
    client_id = os.environ.get("REGISTER_CLIENT_ID", "")
    secret = os.environ.get("REGISTER_CLIENT_SECRET", "")
    urls = [u.strip().rstrip("/") for u in os.environ.get("REGISTER_ELEMENT_URLS", "").split(",") if u.strip()]
    deadline = time.monotonic() + float(os.environ.get("REGISTER_TIMEOUT", "180"))
    if not (client_id and secret and urls):
        log("нужны REGISTER_CLIENT_ID, REGISTER_CLIENT_SECRET и REGISTER_ELEMENT_URLS")
        return 2
    try:
        with httpx.Client() as client:
            run(client, admin, client_id, secret, urls, deadline)
    except (RuntimeError, httpx.HTTPError) as exc:
        log(f"ошибка: {exc}")
        return 1
    log(f"готово: элементов в конфигурации {len(urls)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
