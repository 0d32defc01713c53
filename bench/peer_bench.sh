#!/usr/bin/env bash
# ArtStore рядом с nginx и OpenStack Swift в одном прогоне ../shared/bench (один клиент aiohttp).
# Флот — командой пользователя (scripts/fleet.py) на его обычных портах, с чистой БД и своим номером БД Redis;
# пиры ставятся по README общего бенчмарка (../shared/bench). Пример: bench/peer_bench.sh my-tag
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${ARTSTORE_SHARED_BENCH:-$ROOT/../shared/bench}
PG=${ARTSTORE_BENCH_PG:-postgresql://postgres@127.0.0.1:5432}
# тесты флота на тех же портах ждут этот замок (tests/e2e/conftest.py)
exec 9>/tmp/artstore-fleet-ports.lock
flock -w 1800 9
data=$(mktemp -d)
export INITIAL_CLIENT_ID=bench-client INITIAL_CLIENT_SECRET=bench-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS artstore_peer_bench" -c "CREATE DATABASE artstore_peer_bench" >/dev/null
export ARTSTORE_DATABASE_URL=$PG/artstore_peer_bench ARTSTORE_REDIS_URL=${ARTSTORE_BENCH_REDIS:-redis://127.0.0.1:6379/5}
redis-cli -u "$ARTSTORE_REDIS_URL" flushdb >/dev/null
setsid .venv/bin/python scripts/fleet.py run --data-dir "$data" >"$data/fleet.log" 2>&1 &
fleet=$!
trap 'kill -TERM -$fleet 2>/dev/null; wait $fleet 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 120); do
  curl -sf http://127.0.0.1:8030/health/ready >/dev/null && curl -sf http://127.0.0.1:8020/health/ready >/dev/null && break
  sleep 1
done
cd "$SHARED"
ARTSTORE_BENCH_CLIENT_ID=$INITIAL_CLIENT_ID ARTSTORE_BENCH_CLIENT_SECRET=$INITIAL_CLIENT_SECRET \
  "$ROOT/.venv/bin/python" run.py --targets nginx,swift,artstore --reps 3 --start-peers --stop-peers --no-probe \
  --tag "${1:-artstore}"
