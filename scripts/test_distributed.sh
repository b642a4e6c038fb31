#!/usr/bin/env bash
# `make test-distributed`: the whole stack in scale-out mode on loopback — PostgreSQL (a fresh database on
# the machine's server, started with pg_ctlcluster if it is down), a Chroma server (`chroma run`), Redis,
# two gunicorn backends and two Celery workers — driven over HTTP (tests/distributed). About 2-3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TRIPLE_DISTRIBUTED=1

ensure_redis
echo "==> distributed mode: PostgreSQL + Chroma server + Redis, 2 backends, 2 workers"
.venv/bin/pytest -q tests/distributed "$@"
