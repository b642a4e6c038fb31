#!/bin/sh
# Entry point of the backend image (docker-compose.yml runs every backend-side service from it):
#   api     migrations, a first index build from DATA_DIR when none is active, then gunicorn on :8000
#   worker  a Celery worker on the index and default queues (scale with `docker compose up --scale worker=N`)
#   beat    Celery beat (exactly one per deployment)
#   chroma  a Chroma server (profile `chroma`), the same chromadb version as the backend's client
#   <anything else> is run as a command, e.g. `python manage.py build_vectors`
set -eu
cd /app/backend

command=${1:-api}
[ "$#" -gt 0 ] && shift

case "$command" in
  api)
    python manage.py migrate --noinput
    # Bootstrap: build the index from DATA_DIR on first start. Several replicas may race for it; the
    # loser's build is refused (409, one build at a time) and it serves once the winner's build is active.
    python manage.py build_vectors --if-missing --quiet \
      || echo "triple-entrypoint: index bootstrap did not run here (another replica may be building); continuing" >&2
    # The reference command line is scripts/run.sh's; GUNICORN_CMD_ARGS (read by gunicorn) adds or overrides flags.
    exec gunicorn config.wsgi:application --bind 0.0.0.0:8000 --workers 2 --threads 8 \
      --worker-class gthread --timeout 120 --access-logfile - --error-logfile - "$@"
    ;;
  worker)
    exec celery -A config worker -Q "${INDEX_QUEUE:-indexing},${DEFAULT_QUEUE:-default}" -c 1 \
      --loglevel="${LOG_LEVEL:-INFO}" "$@"
    ;;
  beat)
    exec celery -A config beat --loglevel="${LOG_LEVEL:-INFO}" --schedule /tmp/celerybeat-schedule "$@"
    ;;
  chroma)
    exec chroma run --path /chroma --host 0.0.0.0 --port "${CHROMA_PORT:-8001}" "$@"
    ;;
  *)
    exec "$command" "$@"
    ;;
esac
