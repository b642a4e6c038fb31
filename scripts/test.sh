#!/usr/bin/env bash
# `make test`: the whole suite on SQLite, then the database-facing tests again on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TRIPLE_ENV=test
unset DATABASE_URL

echo "==> lint (ruff, mypy)"
.venv/bin/ruff check backend frontend bench scripts tests
(cd backend && ../.venv/bin/mypy triple config)

ensure_redis
ensure_chromium
echo "==> test suite (SQLite)"
.venv/bin/pytest -q "$@"

PG_URL=${TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}
if ! .venv/bin/python -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=2).close()" "$PG_URL" 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
    echo "==> starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    sleep 2
  fi
fi
if .venv/bin/python -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=2).close()" "$PG_URL" 2>/dev/null; then
  echo "==> database tests again on PostgreSQL ($PG_URL)"
  DATABASE_URL=$PG_URL .venv/bin/pytest -q -m "not e2e" backend/triple/conversations backend/triple/knowledge/tests/test_index_build.py backend/triple/sessions \
    backend/triple/audit
elif [[ "${SKIP_POSTGRES:-}" == "1" ]]; then
  echo "==> SKIP_POSTGRES=1: PostgreSQL tests skipped"
else
  echo "PostgreSQL is not reachable at $PG_URL. Install and start it (apt-get install -y postgresql &&" >&2
  echo "pg_ctlcluster 15 main start), point TEST_POSTGRES_URL at a server, or set SKIP_POSTGRES=1." >&2
  exit 1
fi

echo "==> distributed mode (make test-distributed)"
bash scripts/test_distributed.sh
