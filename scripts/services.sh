#!/usr/bin/env bash
# Helpers sourced by run.sh and test.sh: make sure Redis answers, starting (and installing) it if not.
# Anything started here is recorded in .run/*.pid and stopped by its own PID.

RUN_DIR=${RUN_DIR:-.run}
mkdir -p "$RUN_DIR"

redis_url() { echo "${REDIS_URL:-redis://127.0.0.1:6379/0}"; }

redis_answers() {
  .venv/bin/python - "$(redis_url)" <<'PY' >/dev/null 2>&1
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1, socket_timeout=1).ping()
PY
}

ensure_redis() {
  if redis_answers; then
    echo "==> Redis answers at $(redis_url)"
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "==> redis-server is missing; installing it with apt-get"
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-server >/dev/null
  fi
  local port
  port=$(.venv/bin/python -c "from urllib.parse import urlparse; import sys; print(urlparse(sys.argv[1]).port or 6379)" "$(redis_url)")
  echo "==> starting redis-server on 127.0.0.1:$port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --pidfile "$PWD/$RUN_DIR/redis.pid" --logfile "$PWD/$RUN_DIR/redis.log" --dir "$PWD/$RUN_DIR"
  for _ in $(seq 50); do redis_answers && return 0; sleep 0.1; done
  echo "Redis did not start; see $RUN_DIR/redis.log" >&2
  return 1
}

stop_pidfile() {
  local file=$1
  if [[ -f "$file" ]]; then
    local pid
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
  fi
}

# Headless Chromium for the UI end-to-end test and scripts/screenshot.py (Debian's package; Playwright
# drives it through executable_path, never a downloaded browser), with Korean and emoji fonts.
ensure_chromium() {
  if [[ -x /usr/bin/chromium ]] && fc-list 2>/dev/null | grep -qi nanum && fc-list 2>/dev/null | grep -qi "color emoji"; then
    return 0
  fi
  echo "==> installing chromium and fonts with apt-get"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-nanum fonts-noto-color-emoji >/dev/null
}
