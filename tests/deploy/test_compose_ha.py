"""docker-compose.ha.yml и deploy/haproxy/haproxy.cfg — статически: реплики за haproxy с проверкой
/health/ready, Redis через sentinel-ы, PostgreSQL из двух хостов; адреса проходят настоящие Settings."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from artstore_common import async_url
from artstore_common._redis import is_sentinel_url

from .test_compose import (
    COMPOSE_APPS,
    COMPOSE_HA,
    ROOT,
    SERVICES,
    _compose,
    _load,
    _service_env,
    _settings_cls,
    isolated_env,  # noqa: F401 - фикстура
)

HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
REPLICATED = {"admin-module": 8000, "ingester-module": 8020, "query-module": 8030}


def _ha() -> dict[str, Any]:
    return _load(COMPOSE_HA)["services"]


def _haproxy_sections() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = ""
    for line in HAPROXY_CFG.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = line.strip()
            sections[current] = []
        else:
            sections[current].append(line.strip())
    return sections


def test_haproxy_config_is_valid() -> None:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        pytest.fail("haproxy не установлен: apt-get install -y haproxy (пакет Debian)")
    done = subprocess.run([binary, "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", REPLICATED, ids=str)
def test_replicas_sit_behind_haproxy_checked_on_ready(name: str) -> None:
    ha, base = _ha(), _compose()["services"]
    service = ha[name]
    assert service["deploy"]["replicas"] >= 2, f"{name}: нужно 2+ реплики"
    assert service["ports"] == [], f"{name}: реплики не публикуют порт (его слушает haproxy)"
    port = REPLICATED[name]
    assert f"0.0.0.0:{port}:{port}" in ha["haproxy"]["ports"], f"haproxy не публикует {port}"
    assert "./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in ha["haproxy"]["volumes"]
    sections = _haproxy_sections()
    backend = next(v for k, v in sections.items() if k.startswith("backend ") and
                   any(f" {name}:{port} " in f" {line} " for line in v))
    assert "option httpchk GET /health/ready" in backend and "http-check expect status 200" in backend
    template = next(line for line in backend if line.startswith("server-template"))
    words = template.split()
    assert int(words[2]) >= service["deploy"]["replicas"], "слотов server-template меньше, чем реплик"
    assert words[3] == f"{name}:{port}" and name in base, "server-template указывает не на сервис compose"
    assert "check" in words and "resolvers" in words, "без check/resolvers реплики не проверяются и не находятся"
    assert any(line == f"bind :{port}" for k, v in sections.items() if k.startswith("frontend ") for line in v)


@pytest.mark.parametrize("compose_name", COMPOSE_APPS, ids=str)
def test_ha_env_gives_sentinel_and_multihost_postgres(compose_name: str,
                                                      isolated_env: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Окружение основного файла + override — так его сольёт compose — проходит настоящие Settings."""
    base = _compose()["services"][compose_name]
    override = _ha().get(compose_name)
    assert override is not None, f"{compose_name} не получил адресов HA в docker-compose.ha.yml"
    env = {**_service_env(base), **_service_env(override)}
    for key, value in env.items():
        isolated_env.setenv(key, value)
    settings = _settings_cls(SERVICES[COMPOSE_APPS[compose_name]])()
    ha = _ha()
    # Redis: мастер через три sentinel-а, пароль — из ARTSTORE_REDIS_URL основного файла
    assert is_sentinel_url(settings.redis_url), settings.redis_url
    parts = settings.redis_url.split("://", 1)[1]
    userinfo, _, rest = parts.rpartition("@")
    assert userinfo.startswith(":"), "пароль Redis потерялся по дороге к адресу sentinel"
    hosts, master, db = rest.split("/")
    sentinels = [h.split(":")[0] for h in hosts.split(",")]
    assert len(sentinels) >= 3 and all(s in ha for s in sentinels), sentinels
    assert db == "0"
    for s in sentinels:
        assert f"sentinel monitor {master} redis 6379 2" in " ".join(ha[s]["command"])
    # PostgreSQL: оба хоста — сервисы compose, запись — только на primary
    url = urlsplit(async_url(settings.database_url))
    query = parse_qs(url.query)
    assert query["target_session_attrs"] == ["read-write"]
    assert {h.split(":")[0] for h in query["host"]} == {"postgres", "postgres-standby"}
    assert {"postgres-standby", "postgres"} <= set(ha)


def test_sentinel_quorum_is_a_majority() -> None:
    ha = _ha()
    sentinels = [name for name in ha if name.startswith("redis-sentinel-")]
    assert len(sentinels) >= 3
    for name in sentinels:
        command = " ".join(ha[name]["command"])
        quorum = int(re.search(r"sentinel monitor \S+ \S+ \d+ (\d+)", command).group(1))  # type: ignore[union-attr]
        assert quorum == len(sentinels) // 2 + 1, "кворум не большинство: меньшинство может объявить мастер упавшим"
        assert "--sentinel" in command and "[ -f /data/sentinel.conf ] ||" in command
        assert any(v.endswith(":/data") for v in ha[name]["volumes"]), "состояние sentinel должно жить в томе"


def test_standby_is_streaming_copy_and_primary_is_synchronous() -> None:
    ha = _ha()
    standby = " ".join(ha["postgres-standby"]["command"])
    assert "pg_basebackup -h postgres" in standby and " -R " in standby, "standby — копия primary с primary_conninfo"
    primary = ha["postgres"]["command"]
    assert "synchronous_standby_names=*" in primary, "без синхронной репликации promote теряет подтверждённое"
    init = ROOT / "deploy" / "postgres" / "10-replication.sh"
    assert f"./deploy/postgres/{init.name}:/docker-entrypoint-initdb.d/{init.name}:ro" in ha["postgres"]["volumes"]
    assert "host replication" in init.read_text(encoding="utf-8")


def test_ha_volumes_are_declared() -> None:
    data = _load(COMPOSE_HA)
    declared = set(data.get("volumes") or {})
    for name, service in data["services"].items():
        for mount in service.get("volumes") or []:
            source = str(mount).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: том {source} не объявлен"
