#!/usr/bin/env bash
# Все тесты ArtStore одной командой (вызывается из ./artstore test после подготовки окружения).
# PostgreSQL/Redis: ARTSTORE_TEST_DATABASE_URL / ARTSTORE_TEST_REDIS_URL, иначе встроенные на время тестов.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "==> ruff"
ruff check .
echo "==> mypy"
mypy
if [ -f admin-ui/package.json ] && command -v npm >/dev/null 2>&1; then
  echo "==> admin-ui: сборка и модульные тесты (Vitest)"
  (cd admin-ui && npx ng build --configuration production >/dev/null && npx ng test --watch=false)
fi
echo "==> pytest (все пакеты, сквозные тесты флота и UI в Chromium)"
exec python -m pytest "$@"
