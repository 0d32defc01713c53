"""Хаос на живом флоте (docs/failover.md): Redis Sentinel теряет мастер, PostgreSQL переключается на standby,
одна из двух реплик ingester за haproxy умирает посреди tus-загрузок, одна из двух реплик query — посреди
скачиваний (докачка ``curl -C -``).

Всё — настоящие процессы на 127.0.0.1: флот scripts/fleet.py, redis-server (мастер, реплика, три sentinel-а),
PostgreSQL Debian (primary + standby из pg_basebackup), haproxy Debian с deploy/haproxy/haproxy.cfg.
Каждый случай ограничен по времени и сам останавливает нагрузку. Отдельная цель: ``./artstore chaos``.
Время восстановления печатается строкой ``RECOVERY …`` (pytest -s).
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from artstore_common.embedded import free_port
from artstore_common.embedded_ha import HAProxy, RedisSentinelCluster, StreamingPostgres
from artstore_common.testing import wait_http

from .conftest import ROOT, Hooks, RunningFleet, start_fleet, stop_fleet

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

ADMIN, INGESTER, QUERY = "http://127.0.0.1:8000", "http://127.0.0.1:8020", "http://127.0.0.1:8030"
RTO_LIMIT = 30.0  # issue 16: флот восстанавливается быстрее 30 с
PHASE_LIMIT = 60.0  # ни один случай не крутит нагрузку дольше


@dataclass
class HAFleet:
    fleet: RunningFleet
    redis: RedisSentinelCluster
    pg: StreamingPostgres
    db_url: str
    data: Path

    def creds(self) -> tuple[str, str]:
        s = self.fleet.secrets()
        return s["INITIAL_CLIENT_ID"], s["INITIAL_CLIENT_SECRET"]


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HAFleet]:
    base = tmp_path_factory.mktemp("chaos")
    redis = RedisSentinelCluster(base / "redis").start()
    pg = StreamingPostgres(base / "pg")
    try:
        pg.start()
        db_url = pg.url("artstore")
        fleet = start_fleet(base / "data", {"ARTSTORE_DATABASE_URL": db_url, "ARTSTORE_REDIS_URL": redis.url,
                                            "ARTSTORE_REDIS_NAMESPACE": "chaos"})
        try:
            yield HAFleet(fleet, redis, pg, db_url, base / "data")
        finally:
            stop_fleet(fleet)
    finally:
        pg.stop()
        redis.stop()


# --- нагрузка ----------------------------------------------------------------------------------------
def _token(creds: tuple[str, str], admin: str = ADMIN) -> str:
    r = httpx.post(f"{admin}/api/v1/auth/token", data={"grant_type": "client_credentials"}, auth=creds, timeout=10)
    r.raise_for_status()
    return str(r.json()["access_token"])


@dataclass
class Load:
    """Загрузки и поиски в потоках, пока не скажут stop; каждый ответ — с отметкой времени."""

    creds: tuple[str, str]
    ingester: str = INGESTER
    max_uploads: int | None = None  # столько загрузок — и загрузчики останавливаются (поиски идут дальше)
    stop: threading.Event = field(default_factory=threading.Event)
    acked: dict[str, str] = field(default_factory=dict)  # file_id → sha256 подтверждённых (201)
    events: list[tuple[float, str, bool]] = field(default_factory=list)  # (время, вид, успех)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    token: str = ""

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _note(self, kind: str, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.events.append((time.monotonic(), kind, ok))
            if not ok and len(self.errors) < 50:
                self.errors.append(f"{kind}: {detail}"[:300])

    def _uploader(self, n: int) -> None:
        with httpx.Client(timeout=15) as client:
            i = 0
            while not self.stop.is_set():
                if self.max_uploads is not None and self.count("upload") >= self.max_uploads:
                    self.stop.wait(0.2)
                    continue
                i += 1
                body = os.urandom(random.randint(1, 48) * 1024)
                try:
                    r = client.post(f"{self.ingester}/api/v1/files/upload", headers=self._headers(),
                                    files={"file": (f"chaos-{n}-{i}.bin", body, "application/octet-stream")})
                    ok = r.status_code == 201
                    if ok:
                        with self.lock:
                            self.acked[str(r.json()["file_id"])] = hashlib.sha256(body).hexdigest()
                    self._note("upload", ok, f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    self._note("upload", False, repr(exc))
                    time.sleep(0.2)

    def _searcher(self) -> None:
        with httpx.Client(timeout=15) as client:
            while not self.stop.is_set():
                try:
                    r = client.get(f"{QUERY}/api/v1/search", params={"q": "chaos", "limit": 20},
                                   headers=self._headers())
                    self._note("search", r.status_code == 200, f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    self._note("search", False, repr(exc))
                time.sleep(0.05)

    def _tokens(self) -> None:
        while not self.stop.is_set():
            try:
                self.token = _token(self.creds)
                self._note("token", True)
            except httpx.HTTPError as exc:
                self._note("token", False, repr(exc))
            self.stop.wait(0.5)

    def __enter__(self) -> Load:
        self.token = _token(self.creds)
        self.threads = [threading.Thread(target=self._uploader, args=(n,), daemon=True) for n in range(3)]
        self.threads += [threading.Thread(target=self._searcher, daemon=True),
                         threading.Thread(target=self._tokens, daemon=True)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def count(self, kind: str) -> int:
        with self.lock:
            return sum(1 for _, k, _ in self.events if k == kind)

    def first_ok_after(self, kind: str, since: float) -> float | None:
        with self.lock:
            return next((t for t, k, ok in self.events if k == kind and ok and t > since), None)

    def last_failure(self, kind: str) -> float | None:
        with self.lock:
            return max((t for t, k, ok in self.events if k == kind and not ok), default=None)


class Watch:
    """Опрос /health/ready и метрики fallback discovery: видна ли деградация, пока она длится."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.degraded: dict[str, float] = {}  # что → когда впервые увидели
        self.last_seen: dict[str, float] = {}  # что → когда видели в последний раз
        self.healthy_since: float | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=3) as client:
            while not self.stop.is_set():
                all_ok = True
                for name, url in (("admin", ADMIN), ("ingester", INGESTER), ("query", QUERY)):
                    try:
                        r = client.get(f"{url}/health/ready")
                        body = r.json()
                        bad = [c for c, v in body.get("checks", {}).items() if v.get("status") != "ok"]
                        if r.status_code != 200 or bad:
                            all_ok = False
                            self._seen(f"{name}/health/ready:{','.join(bad) or r.status_code}")
                    except (httpx.HTTPError, ValueError):
                        all_ok = False
                        self._seen(f"{name}/health/ready:unreachable")
                for name, url in (("ingester", INGESTER), ("query", QUERY)):
                    try:
                        text = client.get(f"{url}/metrics").text
                    except httpx.HTTPError:
                        continue
                    if "artstore_discovery_fallback_active 1.0" in text:
                        all_ok = False
                        self._seen(f"{name}:artstore_discovery_fallback_active=1")
                now = time.monotonic()
                if all_ok:
                    self.healthy_since = self.healthy_since or now
                else:
                    self.healthy_since = None
                self.stop.wait(0.2)

    def _seen(self, what: str) -> None:
        now = time.monotonic()
        self.degraded.setdefault(what, now)
        self.last_seen[what] = now

    def slowest(self) -> str:
        """Деградация, которая прошла последней: она и задаёт время восстановления."""
        return max(self.last_seen, key=lambda k: self.last_seen[k], default="-")

    def __enter__(self) -> Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"за {timeout:g} с не дождались: {what}")


def _verify_downloads(creds: tuple[str, str], acked: dict[str, str], query: str = QUERY) -> None:
    """Каждая подтверждённая загрузка скачивается с тем же sha256 (скачивание — потоком, по кускам)."""
    token = _token(creds)

    def one(item: tuple[str, str]) -> str | None:
        file_id, sha = item
        digest = hashlib.sha256()
        with httpx.stream("GET", f"{query}/api/v1/files/{file_id}/download", timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as r:
            if r.status_code != 200:
                return f"{file_id}: HTTP {r.status_code}"
            for chunk in r.iter_bytes():
                digest.update(chunk)
        return None if digest.hexdigest() == sha else f"{file_id}: sha256 не совпал"

    with ThreadPoolExecutor(4) as pool:
        problems = [p for p in pool.map(one, acked.items()) if p]
    assert not problems, f"подтверждённые загрузки потеряны или испорчены ({len(problems)}): {problems[:10]}"


def _report(case: str, **numbers: float | int | str) -> None:
    print(f"\nRECOVERY {case}: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                           for k, v in numbers.items()), flush=True)


# --- случаи -------------------------------------------------------------------------------------------
def test_redis_master_killed_during_uploads_and_searches(ha: HAFleet) -> None:
    creds = ha.creds()
    hooks = Hooks()
    hooks.subscribe(ha.fleet, ["file_uploaded"])
    with Watch() as watch, Load(creds, max_uploads=500) as load:
        _wait(lambda: len(load.acked) >= 20 and watch.healthy_since is not None, 30, "нагрузка до отказа")
        old = ha.redis.kill_master()
        killed = time.monotonic()
        new = ha.redis.wait_failover(old, timeout=RTO_LIMIT)
        elected = time.monotonic()
        # Восстановление: загрузка, поиск и токен после выбора нового мастера, все /health/ready снова «ok».
        _wait(lambda: all(load.first_ok_after(k, elected) for k in ("upload", "search", "token"))
              and watch.healthy_since is not None and watch.healthy_since > killed, PHASE_LIMIT,
              f"флот вернулся к Redis после переключения; деградация: {sorted(watch.degraded)}")
        recovered = watch.healthy_since or time.monotonic()
        # issue 16: отказ — посреди 500 загрузок и 500 поисков; нагрузка идёт, пока обоих не наберётся столько
        _wait(lambda: load.count("upload") >= 500 and load.count("search") >= 500, PHASE_LIMIT,
              f"500 загрузок и 500 поисков: {load.count('upload')} и {load.count('search')}")
    assert new != old
    rto = recovered - killed
    _report("redis-sentinel", failover_s=elected - killed, fleet_ok_s=rto, acked=len(load.acked),
            uploads=load.count("upload"), searches=load.count("search"),
            failed=sum(1 for _, _, ok in load.events if not ok), last_degraded=watch.slowest())
    assert rto < RTO_LIMIT, f"флот восстановился за {rto:.1f} с (нужно < {RTO_LIMIT:g})"
    # Деградация видна, пока длится: в /health/ready и метрикой fallback discovery.
    seen = sorted(watch.degraded)
    assert any("/health/ready:" in s for s in seen), seen
    assert any("artstore_discovery_fallback_active=1" in s for s in seen), seen
    # Redis — не критичная зависимость загрузки: ни одна загрузка не отказала из-за переключения.
    assert not [e for e in load.errors if e.startswith("upload")], load.errors[:5]
    # Группа потребителей вебхуков admin продолжила читать поток на новом мастере: события загрузок после
    # переключения прочитаны (lag 0), а не ждут потребителя, оставшегося у мертвого мастера.
    _wait(lambda: _webhook_lag(new) == 0, 20, f"admin дочитал поток событий на новом мастере: lag {_webhook_lag(new)}")
    # и вебхук каждой подтверждённой загрузки дошёл («хотя бы раз»): событие, которое старый мастер принял, но
    # не успел передать реплике, outbox не считает перенесённым
    acked = set(load.acked)
    try:
        _wait(lambda: hooks.files("file_uploaded") >= acked, 120,
              f"вебхуки всех {len(acked)} загрузок; нет {len(acked - hooks.files('file_uploaded'))}")
    finally:
        hooks.close()
    _report("redis-sentinel-webhooks", webhooks=len(hooks.files("file_uploaded")), posts=hooks.posts,
            all_delivered_s=time.monotonic() - killed)
    _verify_downloads(creds, load.acked)


def _webhook_lag(port: int) -> int | None:
    import redis

    from artstore_common import events_stream

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=3)
    try:
        groups = client.xinfo_groups(events_stream("chaos"))
    finally:
        client.close()
    group = next((g for g in groups if g.get("name") in (b"admin-webhooks", "admin-webhooks")), None)
    if group is None or not group.get("entries-read"):
        return None
    return int(group["lag"]) if group.get("lag") is not None else None


def test_postgres_standby_promoted_primary_stopped_during_uploads(ha: HAFleet) -> None:
    creds = ha.creds()
    with Load(creds) as load:
        _wait(lambda: len(load.acked) >= 20, 30, "нагрузка до переключения")
        before = len(load.acked)
        started = time.monotonic()
        ha.pg.promote_standby()
        ha.pg.stop_primary("immediate")
        stopped = time.monotonic()
        _wait(lambda: all(load.first_ok_after(k, stopped) for k in ("upload", "token")), RTO_LIMIT,
              f"загрузки и токены после переключения PostgreSQL; ошибки: {load.errors[-5:]}")
        upload_back = load.first_ok_after("upload", stopped) or stopped
        token_back = load.first_ok_after("token", stopped) or stopped
        # Каждый сервис с базой снова готов: его проверка PostgreSQL (критичная) ходит уже к новому primary.
        _wait(lambda: all(_db_ready(port) for port in DB_PORTS), RTO_LIMIT,
              "все сервисы с PostgreSQL снова ready после переключения")
        ready_back = time.monotonic()
        time.sleep(3)
        after = len(load.acked)
    _report("postgres-promote", switch_s=stopped - started, upload_back_s=upload_back - started,
            token_back_s=token_back - started, services_ready_s=ready_back - started, acked_before=before,
            acked_total=after, failed=sum(1 for _, _, ok in load.events if not ok))
    assert after > before
    assert ready_back - started < RTO_LIMIT
    print("  отказы в полёте:", load.errors[:5])
    # Оборванная переключением транзакция — ответ problem+json с понятным статусом, не 500.
    assert not [e for e in load.errors if ": 500 " in e], load.errors[:5]
    # Сервисы не перезапускались: те же процессы под fleet.py (о перезапуске он пишет «… перезапущен»).
    assert not [line for line in ha.fleet.output if "перезапущен" in line], ha.fleet.output[-20:]
    # Соединения флота — на новом primary (бывшей standby), старый остановлен.
    sessions = subprocess.run(
        [str(ha.pg.bin / "psql"), ha.pg.single_url(1, "artstore"), "-Atc",
         "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'artstore'"],
        capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    assert int(sessions) > 0, "на новом primary нет соединений флота"
    _verify_downloads(creds, load.acked)


# admin, элементы, ingester: у каждого критичная проверка PostgreSQL в /health/ready
DB_PORTS = (8000, 8010, 8011, 8020)


def _db_ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def _start_replica(ha: HAFleet, module: str, prefix: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Вторая реплика сервиса с тем же окружением, что у флота (scripts/fleet.py), но своим портом и каталогом."""
    client_id, secret = ha.creds()
    env = {**os.environ, "ARTSTORE_DATABASE_URL": ha.db_url, "ARTSTORE_REDIS_URL": ha.redis.url,
           "ARTSTORE_REDIS_NAMESPACE": "chaos", "ARTSTORE_ENVIRONMENT": "development",
           "ARTSTORE_JWKS_URL": f"{ADMIN}/.well-known/jwks.json", "ARTSTORE_TOKEN_URL": f"{ADMIN}/api/v1/auth/token",
           "ARTSTORE_DATA_DIR": str(ha.data / f"{module}-{port}"), f"{prefix}PORT": str(port),
           f"{prefix}CLIENT_ID": client_id, f"{prefix}CLIENT_SECRET": secret, "LOG_FORMAT": "text"}
    out = open(log, "wb")  # noqa: SIM115 - живёт столько же, сколько процесс
    proc = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT,
                            cwd=ROOT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health/ready", timeout=60)
    except BaseException:
        proc.kill()
        raise
    return proc


@contextmanager
def _two_replicas(ha: HAFleet, tmp_path: Path, backend: str, fleet_port: int
                  ) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Реплика флота + вторая реплика за haproxy с deploy/haproxy/haproxy.cfg: (вторая реплика, адрес haproxy)."""
    module, prefix = {"ingester": ("ingester_module", "INGESTER_"), "query": ("query_module", "QUERY_")}[backend]
    port = free_port()
    replica = _start_replica(ha, module, prefix, port, tmp_path / f"{backend}-2.log")
    proxy = HAProxy(tmp_path / "haproxy", ROOT / "deploy" / "haproxy" / "haproxy.cfg", {backend: [fleet_port, port]})
    try:
        proxy.start()
        lb = proxy.url(backend)
        _wait(lambda: httpx.get(f"{lb}/health/ready", timeout=3).status_code == 200, 20, "haproxy видит реплики")
        yield replica, lb
    finally:
        proxy.stop()
        if replica.poll() is None:
            replica.kill()
        replica.wait(10)


def _tus_upload(base: str, token: str, body: bytes, name: str, chunk: int, on_chunk: Callable[[int], None]) -> str:
    """tus 1.0: создать, дописывать кусками; при обрыве — HEAD за смещением и дальше с него (любая реплика)."""
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    meta = "filename " + base64.b64encode(name.encode()).decode()
    with httpx.Client(timeout=15) as client:
        # создание, оборванное на убитой реплике (502 от haproxy, обрыв), клиент повторяет: на сервере от
        # оборванного остаётся разве что пустая незавершённая загрузка, её уберёт срок частичных загрузок
        for attempt in range(5):
            try:
                r = client.post(f"{base}/api/v1/uploads", headers={**headers, "Upload-Length": str(len(body)),
                                                                     "Upload-Metadata": meta})
                if r.status_code == 201:
                    break
                reason = f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                reason = repr(exc)
            assert attempt < 4, f"tus {name}: не создать загрузку: {reason}"
            time.sleep(0.5)
        location = r.headers["Location"]
        upload_id = location.rsplit("/", 1)[-1]
        offset, attempts = 0, 0
        while offset < len(body):
            try:
                r = client.patch(f"{base}{location}", content=body[offset:offset + chunk], headers={
                    **headers, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
                if r.status_code == 204:
                    offset = int(r.headers["Upload-Offset"])
                    on_chunk(offset)
                    continue
                reason = f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                reason = repr(exc)
            attempts += 1
            assert attempts <= 30, f"tus {upload_id}: не докачать: {reason}"
            time.sleep(0.5)
            try:
                head = client.head(f"{base}{location}", headers=headers)
                if head.status_code == 200:
                    offset = int(head.headers["Upload-Offset"])
            except httpx.HTTPError:
                pass
    return upload_id


def test_tus_uploads_resume_through_surviving_ingester_replica(ha: HAFleet, tmp_path: Path) -> None:
    creds = ha.creds()
    with _two_replicas(ha, tmp_path, "ingester", 8020) as (replica, lb):
        token = _token(creds)
        chunks = threading.Event()
        progress = [0]

        def seen(_offset: int) -> None:
            progress[0] += 1
            if progress[0] >= 20:
                chunks.set()

        bodies = {f"tus-{i}.bin": os.urandom(512 * 1024) for i in range(24)}
        killed_at: list[float] = []
        # рядом с tus — 500 обычных загрузок (multipart) через тот же haproxy: реплику убивают посреди них
        with Load(creds, ingester=lb, max_uploads=500) as load:

            def killer() -> None:
                chunks.wait(60)
                deadline = time.monotonic() + 60
                while load.count("upload") < 100 and time.monotonic() < deadline:
                    time.sleep(0.05)
                replica.kill()
                killed_at.append(time.monotonic())

            threading.Thread(target=killer, daemon=True).start()
            started = time.monotonic()
            with ThreadPoolExecutor(4) as pool:
                results = dict(zip(bodies, pool.map(
                    lambda kv: _tus_upload(lb, token, kv[1], kv[0], 64 * 1024, seen), bodies.items()), strict=True))
            finished = time.monotonic()
            _wait(lambda: load.count("upload") >= 500, PHASE_LIMIT,
                  f"500 загрузок через haproxy: {load.count('upload')}")
        assert killed_at, "реплика не была убита посреди загрузок"
        assert replica.wait(10) is not None
        # клиент видит только оборванные на убитой реплике запросы — по одному на поток загрузки, не больше
        failed_uploads = [e for e in load.errors if e.startswith("upload")]
        assert len(failed_uploads) <= 3, failed_uploads
        assert not [e for e in load.errors if not e.startswith("upload")], load.errors[:5]
        # Загрузки, куски которых принимала убитая реплика (её журнал доступа), закончились через оставшуюся.
        log = (tmp_path / "ingester-2.log").read_text(encoding="utf-8", errors="replace")
        touched = {fid for fid in results.values() if f"PATCH /api/v1/uploads/{fid} → 204" in log}
        _report("haproxy-ingester", killed_after_s=killed_at[0] - started, all_done_s=finished - started,
                uploads=len(results), via_killed_replica=len(touched), multipart=load.count("upload"),
                multipart_failed=len(failed_uploads))
        assert touched, "убитая реплика не принимала кусков: haproxy не распределял загрузки"
        acked = {fid: hashlib.sha256(bodies[name]).hexdigest() for name, fid in results.items()}
        acked.update(load.acked)
    _verify_downloads(creds, acked)


def _curl_resume(url: str, token: str, target: Path, limit: int = 40) -> int:
    """``curl -C -`` до полного файла: каждый обрыв — новый запуск с Range от уже скачанного. Число запусков."""
    for attempt in range(1, limit + 1):
        done = subprocess.run(
            ["curl", "-sS", "--fail", "-C", "-", "--limit-rate", "4M", "--max-time", "60",
             "-H", f"Authorization: Bearer {token}", "-o", str(target), url],
            capture_output=True, text=True, timeout=90, check=False)
        if done.returncode == 0:
            return attempt
        time.sleep(0.3)
    raise AssertionError(f"curl -C - не докачал {url} за {limit} попыток: {done.stderr[-300:]}")


def test_ranged_downloads_resume_through_surviving_query_replica(ha: HAFleet, tmp_path: Path) -> None:
    creds = ha.creds()
    token = _token(creds)
    files: dict[str, str] = {}
    # Файлы намного больше буферов сокетов и haproxy (на loopback — мегабайты): иначе реплика успевает
    # отдать весь файл в буферы до того, как её убьют, и обрыва клиент не видит.
    for i in range(4):
        body = os.urandom(32 * 1024 * 1024)
        r = httpx.post(f"{INGESTER}/api/v1/files/upload", headers={"Authorization": f"Bearer {token}"}, timeout=60,
                       files={"file": (f"big-{i}.bin", body, "application/octet-stream")})
        assert r.status_code == 201, r.text
        files[str(r.json()["file_id"])] = hashlib.sha256(body).hexdigest()
    with _two_replicas(ha, tmp_path, "query", 8030) as (replica, lb):
        killed_at: list[float] = []

        def killer() -> None:
            time.sleep(2.0)  # при 4 МиБ/с файл в 32 МиБ качается ~8 с: убиваем посреди
            replica.kill()
            killed_at.append(time.monotonic())

        started = time.monotonic()
        threading.Thread(target=killer, daemon=True).start()
        with ThreadPoolExecutor(4) as pool:
            attempts = dict(zip(files, pool.map(
                lambda fid: _curl_resume(f"{lb}/api/v1/files/{fid}/download", token, tmp_path / fid), files),
                strict=True))
        finished = time.monotonic()
        assert killed_at and replica.wait(10) is not None
        for fid, sha in files.items():
            assert hashlib.sha256((tmp_path / fid).read_bytes()).hexdigest() == sha, f"{fid}: sha256 не совпал"
        resumed = sum(1 for n in attempts.values() if n > 1)
        _report("haproxy-query", killed_after_s=killed_at[0] - started, all_done_s=finished - started,
                downloads=len(files), resumed_with_range=resumed)
        # Обрыв видят только скачивания, шедшие через убитую реплику; они докачаны с Range через оставшуюся.
        assert resumed >= 1, "ни одно скачивание не шло через убитую реплику — нечего проверять"
