#!/usr/bin/env bash
# `make run`: Redis (started if none answers), migrations, first index build, Celery worker + beat,
# the API (gunicorn, 127.0.0.1:8000) and the Streamlit UI (127.0.0.1:8501). Ctrl-C stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1

if [[ ! -f .env ]]; then
  token=$(.venv/bin/python -c "import secrets; print(secrets.token_urlsafe(24))")
  secret=$(.venv/bin/python -c "import secrets; print(secrets.token_urlsafe(48))")
  sed -e "s|^OPERATOR_TOKEN=.*|OPERATOR_TOKEN=$token|" -e "s|^SECRET_KEY=.*|SECRET_KEY=$secret|" .env.example > .env
  echo "==> wrote .env with a new OPERATOR_TOKEN (operator pages and endpoints need it): $token"
fi
set -a; source .env; set +a

API_PORT=${API_PORT:-8000}
UI_PORT=${UI_PORT:-8501}
PIDS=()
cleanup() {
  echo; echo "==> stopping"
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Give everything 15 s to shut down cleanly (a worker finishes its current task), then force it:
  # a process that missed its SIGTERM must not keep make run from returning.
  for _ in $(seq 150); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  stop_pidfile "$RUN_DIR/redis.pid"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_redis
# gunicorn's workers add up their Prometheus metrics through files in this folder.
export PROMETHEUS_MULTIPROC_DIR="$PWD/$RUN_DIR/metrics"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
cd backend
../.venv/bin/python manage.py migrate --noinput -v0
../.venv/bin/python manage.py collectstatic --noinput -v0
echo "==> building the vector index from data/ if none is active"
../.venv/bin/python manage.py build_vectors --if-missing
../.venv/bin/celery -A config worker -Q "${INDEX_QUEUE:-indexing},${DEFAULT_QUEUE:-default}" -c 1 --loglevel=warning \
  --logfile "../$RUN_DIR/worker.log" &
PIDS+=($!)
../.venv/bin/celery -A config beat --loglevel=warning --schedule "../$RUN_DIR/celerybeat-schedule" \
  --logfile "../$RUN_DIR/beat.log" &
PIDS+=($!)
../.venv/bin/gunicorn config.wsgi:application --bind "127.0.0.1:$API_PORT" --workers 2 --threads 8 \
  --worker-class gthread --timeout 120 --access-logfile "../$RUN_DIR/access.log" --error-logfile "../$RUN_DIR/api.log" &
PIDS+=($!)
cd ..
if [[ -f frontend/app.py ]]; then
  TRIPLE_API_URL="http://127.0.0.1:$API_PORT" TRIPLE_OPERATOR_TOKEN="${TRIPLE_OPERATOR_TOKEN:-${OPERATOR_TOKEN:-}}" \
    .venv/bin/streamlit run frontend/app.py \
    --server.address 127.0.0.1 --server.port "$UI_PORT" --server.headless true \
    --browser.gatherUsageStats false --client.toolbarMode minimal --client.showErrorDetails none \
    >"$RUN_DIR/ui.log" 2>&1 &
  PIDS+=($!)
fi

cat <<MSG

  Triple is running
    API         http://127.0.0.1:$API_PORT/api/v1/triple/   (health: /api/v1/triple/health/)
    API docs    http://127.0.0.1:$API_PORT/api/docs/  (OpenAPI: /api/schema/)
    UI          http://127.0.0.1:$UI_PORT/
    Redis       ${REDIS_URL:-redis://127.0.0.1:6379/0}
    Database    ${DATABASE_URL:-sqlite: db.sqlite3}
    Vectors     ${CHROMA_HOST:+chroma server $CHROMA_HOST:${CHROMA_PORT:-8001}}${CHROMA_HOST:-vector_store/}
    Logs        $RUN_DIR/
  Press Ctrl-C to stop everything started here.

MSG
wait -n "${PIDS[@]}"
echo "a process exited; see $RUN_DIR/*.log" >&2
