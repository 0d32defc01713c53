# syntax=docker/dockerfile:1
# Один образ на четыре Python-сервиса; какой именно — аргументы сборки (их задаёт docker-compose.yml).
# Контекст — корень репозитория (нужны libs/artstore-common и пины requirements.txt):
#   docker build --build-arg SERVICE=query-module --build-arg MODULE=query_module \
#                --build-arg PORT=8030 --build-arg PREFIX=QUERY_ -t artstore/query-module .
# SERVICE — каталог пакета, MODULE — импортируемое имя (python -m MODULE), PORT — порт по умолчанию,
# PREFIX — префикс переменных окружения сервиса (ADMIN_, SE_, INGESTER_, QUERY_).
ARG SERVICE=admin-module
ARG MODULE=admin_module
ARG PORT=8000
ARG PREFIX=ADMIN_

# --- builder: venv со всеми зависимостями; компиляторы и кэши pip в итоговый образ не попадают ---
FROM python:3.11-slim AS builder
ARG SERVICE
ARG MODULE

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /build

# Сначала только описания пакетов: слой с зависимостями пересобирается при смене пинов,
# а не при каждой правке кода.
COPY requirements.txt ./
COPY libs/artstore-common/pyproject.toml libs/artstore-common/
COPY ${SERVICE}/pyproject.toml ${SERVICE}/
# requirements.txt служит файлом ограничений (-c): ставятся только зависимости сервиса и ровно
# проверенных тестами версий, без pytest, moto и встроенных PostgreSQL/Redis из того же файла.
# Строки -e (свои пакеты) pip в ограничениях не принимает. Пустые модули-заглушки позволяют
# hatchling собрать пакеты до того, как скопированы исходники.
RUN grep -v '^-e' requirements.txt > /tmp/constraints.txt \
 && mkdir -p libs/artstore-common/src/artstore_common "${SERVICE}/src/${MODULE}" \
 && touch libs/artstore-common/src/artstore_common/__init__.py "${SERVICE}/src/${MODULE}/__init__.py" \
 && pip install --no-cache-dir -c /tmp/constraints.txt ./libs/artstore-common "./${SERVICE}"

COPY libs/artstore-common/src libs/artstore-common/src
COPY ${SERVICE}/src ${SERVICE}/src
# Обычная (не editable) установка: в образе нет исходников, только пакет в site-packages.
RUN pip install --no-cache-dir --no-deps --force-reinstall ./libs/artstore-common "./${SERVICE}"

# --- runtime ---
FROM python:3.11-slim
ARG MODULE
ARG PORT
ARG PREFIX

# Постоянный uid/gid: у томов данных тот же владелец после пересборки образа.
# /data — рабочий каталог сервиса; новый именованный том наследует владельца.
RUN groupadd --system --gid 10001 artstore \
 && useradd --system --uid 10001 --gid artstore --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin artstore \
 && mkdir -p /app /data \
 && chown artstore:artstore /app /data

COPY --from=builder /opt/venv /opt/venv

# По умолчанию сервис слушает 127.0.0.1 — в контейнере это сделало бы его недоступным снаружи:
# ARTSTORE_HOST — общий для флота (artstore_common.ServiceSettings.shared_fields), <PREFIX>HOST его
# перекрывает. Данные — на томе /data: ARTSTORE_DATA_DIR у admin, ingester и query; SE_DATA_DIR и
# SE_COLD_DIR читает только элемент хранения (файлы и холодный архив — в разных каталогах тома).
# ARTSTORE_PORT_ENV — имя переменной порта этого сервиса: по ней HEALTHCHECK находит порт, если compose
# его переопределил.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ARTSTORE_SERVICE_MODULE=${MODULE} \
    ARTSTORE_HOST=0.0.0.0 \
    ARTSTORE_PORT_ENV=${PREFIX}PORT \
    ARTSTORE_DEFAULT_PORT=${PORT} \
    ARTSTORE_DATA_DIR=/data \
    SE_DATA_DIR=/data/files \
    SE_COLD_DIR=/data/cold

WORKDIR /app
# Числовой uid: runAsNonRoot в Kubernetes и проверки рантайма не умеют разрешать имена.
USER 10001:10001
EXPOSE ${PORT}

# В slim нет curl; порт — из переменной сервиса, если она задана, иначе порт по умолчанию.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get(os.environ['ARTSTORE_PORT_ENV'], os.environ['ARTSTORE_DEFAULT_PORT']), timeout=4)"]

# exec: PID 1 — сам python, сигналы остановки доходят до uvicorn
CMD ["sh", "-c", "exec python -m \"$ARTSTORE_SERVICE_MODULE\""]
