#!/usr/bin/env python3
"""API latency and throughput of `POST /api/v1/triple/chat/` with the local provider, against the baseline.

For each corpus size (synthetic corpora from the shipped data, see bench/corpus.py) this starts Triple under
gunicorn (gthread, as scripts/run.sh: 2 workers x 8 threads) on 127.0.0.1, drives it with a thread pool at
each concurrency (bounded by a request count and a time budget), stops it, then does the same for the
baseline (bench/baseline/: one Django view, langchain-chroma similarity_search + the same extractive
generator). Overhead beyond provider time = client-side latency minus the time the server spent in language-
model provider calls (`timings_ms.generate_ms` + `condense_ms`: the generation and reasoning roles); the
"excl. embedding" figures also subtract the embedding provider's call (`embed_ms`), which both servers make.

Usage: .venv/bin/python bench/api_latency.py [--sizes 1000,10000] [--concurrency 1,8,16,32]
           [--requests 200] [--seconds 25] [--workers 2] [--threads 8]
Writes bench/results/api_latency.json and prints markdown tables.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import corpus, harness
from bench.harness import percentile

GUNICORN = harness.REPO / ".venv" / "bin" / "gunicorn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A gunicorn process group we started; stopped by its pid only."""

    def __init__(self, app: str, cwd: Path, env: dict[str, str], workers: int, threads: int, log: Path) -> None:
        self.port = free_port()
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [str(GUNICORN), app, "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "--threads",
             str(threads), "--worker-class", "gthread", "--timeout", "300", "--graceful-timeout", "5",
             "--config", str(harness.REPO / "bench" / "gunicorn_query_threads.py")],
            cwd=cwd, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait(self, probe: Callable[[], bool], timeout: float = 180) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if probe():
                    return
            except Exception:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"server not ready after {timeout}s; see {self.log.name}")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def rss_mb(self) -> float:
        return sum(harness.rss_mb(p) for p in self.worker_pids()) + harness.rss_mb(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


STAGES = ("session_ms", "history_ms", "condense_ms", "embed_ms", "retrieve_ms", "generate_ms", "store_ms")


def drive(send: Callable[[Any, int], dict[str, Any]], concurrency: int, requests: int, seconds: float
          ) -> dict[str, Any]:
    """`requests` calls of send(client, i) from `concurrency` threads, stopping early after `seconds`."""
    import httpx

    lock = threading.Lock()
    counter = {"next": 0}
    samples: list[dict[str, Any]] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        with httpx.Client(timeout=120) as client:
            while True:
                with lock:
                    i = counter["next"]
                    if i >= requests or time.perf_counter() > deadline:
                        return
                    counter["next"] += 1
                started = time.perf_counter()
                try:
                    timings = send(client, i)
                except Exception as exc:  # recorded, not raised: the run goes on
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                latency = (time.perf_counter() - started) * 1000
                with lock:
                    samples.append({"ms": latency, **timings})

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    wall = time.perf_counter() - started
    lat = [s["ms"] for s in samples]
    llm = [float(s.get("generate_ms", 0.0)) + float(s.get("condense_ms", 0.0)) for s in samples]
    over = [s["ms"] - t for s, t in zip(samples, llm, strict=True)]
    over_embed = [o - float(s.get("embed_ms", 0.0)) for s, o in zip(samples, over, strict=True)]
    stages = {k: statistics.median(float(s[k]) for s in samples if k in s)
              for k in STAGES if any(k in s for s in samples)}
    return {
        "concurrency": concurrency, "ok": len(samples), "errors": len(errors), "error_examples": errors[:3],
        "wall_s": round(wall, 2), "rps": round(len(samples) / wall, 2) if wall else 0.0,
        "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95), "p99_ms": percentile(lat, 99),
        "overhead_p50_ms": percentile(over, 50), "overhead_p95_ms": percentile(over, 95),
        "overhead_p99_ms": percentile(over, 99), "overhead_excl_embed_p50_ms": percentile(over_embed, 50),
        "overhead_excl_embed_p95_ms": percentile(over_embed, 95), "server_stage_median_ms": stages,
    }


# The product's defaults that would turn this into a different benchmark: per-user/IP rate limits would
# reject the load, and the Redis answer cache would answer repeated eval questions without retrieval.
OURS_OVERRIDES = {"RATE_LIMIT_USER": "", "RATE_LIMIT_IP": "", "ANSWER_CACHE_TTL": "0"}


class Target:
    """One server under test and the request it is sent."""

    def __init__(self, name: str, server: Server, send: Callable[[Any, int], dict[str, Any]]) -> None:
        self.name, self.server, self.send = name, server, send


def start_ours(root: Path, args: argparse.Namespace, qs: list[str]) -> Target:
    import httpx

    env = {**corpus.env_for(root), **OURS_OVERRIDES, "ANSWER_CACHE_TTL": str(args.answer_cache_ttl),
           "BENCH_QUERY_THREADS": str(args.query_threads)}
    server = Server("config.wsgi:application", harness.REPO / "backend", env, args.workers, args.threads,
                    root / "gunicorn-ours.log")
    try:
        server.wait(lambda: httpx.post(f"{server.base}/api/v1/triple/user/", json={}, timeout=30).status_code
                    in (200, 201))
        with httpx.Client(timeout=60) as client:
            users = [client.post(f"{server.base}/api/v1/triple/user/", json={}).json()["user_id"]
                     for _ in range(args.users)]
    except Exception:
        server.stop()
        raise
    url = f"{server.base}/api/v1/triple/chat/"

    def send(client: Any, i: int) -> dict[str, Any]:
        r = client.post(url, json={"user_id": users[i % len(users)], "question": qs[i % len(qs)]})
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:120]}")
        return dict(r.json()["timings_ms"])

    return Target("ours", server, send)


def start_baseline(root: Path, args: argparse.Namespace, qs: list[str]) -> Target:
    import httpx

    env = {**corpus.env_for(root), "DJANGO_SETTINGS_MODULE": "bench.baseline.settings",
           "BASELINE_CHROMA_DIR": str(root / "baseline_chroma"), "BASELINE_COLLECTION": corpus.baseline_collection(),
           "PYTHONPATH": f"{harness.REPO}:{harness.REPO / 'backend'}", "BENCH_QUERY_THREADS": str(args.query_threads)}
    server = Server("bench.baseline.wsgi:application", harness.REPO, env, args.workers, args.threads,
                    root / "gunicorn-baseline.log")
    url = f"{server.base}/chat/"
    try:
        server.wait(lambda: httpx.post(url, json={"question": "warm up"}, timeout=60).status_code == 200)
    except Exception:
        server.stop()
        raise

    def send(client: Any, i: int) -> dict[str, Any]:
        r = client.post(url, json={"question": qs[i % len(qs)]})
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:120]}")
        return dict(r.json()["timings_ms"])

    return Target("baseline", server, send)


def measure(targets: list[Target], args: argparse.Namespace) -> dict[str, Any]:
    """Both servers run side by side; each concurrency level is measured for one, then the other, so a
    change in the machine's background load hits both alike."""
    for target in targets:  # every worker thread loads the model, BM25 index and Chroma before we measure
        drive(target.send, args.workers * args.threads, args.workers * args.threads * 2, 120)
    out: dict[str, Any] = {t.name: {"levels": []} for t in targets}
    for c in args.concurrency:
        n = args.requests if c > 1 else max(20, args.requests // 4)
        for target in targets:
            level = drive(target.send, c, n, args.seconds)
            harness.log(f"  {target.name} c={c}: {level['ok']} ok, {level['errors']} errors, {level['rps']} req/s, "
                        f"p50 {level['p50_ms']:.0f} ms, p95 {level['p95_ms']:.0f} ms, "
                        f"overhead p95 {level['overhead_p95_ms']:.1f} ms "
                        f"(excl. embedding {level['overhead_excl_embed_p95_ms']:.1f} ms)")
            out[target.name]["levels"].append(level)
    for target in targets:
        out[target.name]["rss_mb_after"] = round(target.server.rss_mb(), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--concurrency", default="1,8,16,32")
    parser.add_argument("--requests", type=int, default=200, help="per concurrency level (a quarter at c=1)")
    parser.add_argument("--seconds", type=float, default=25, help="time budget per concurrency level")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--query-threads", type=int, default=0,
                        help="A/B: embed single queries with N BLAS threads in both servers (0 = as shipped)")
    parser.add_argument("--answer-cache-ttl", type=int, default=0, help="Triple's answer cache (0 = off)")
    parser.add_argument("--out", default="api_latency")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]
    # SIGTERM unwinds like Ctrl-C, so the `finally` blocks stop the gunicorn servers this run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    qs = harness.eval_questions()
    results: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items()}, "sizes": {}}
    for size in args.sizes:
        root, info = corpus.prepare(size)
        harness.log(f"corpus {size}: ours {info['ours']['counts']['chunks']} chunks")
        entry: dict[str, Any] = {"corpus": info}
        targets = [start_ours(root, args, qs)]
        try:
            if not args.no_baseline:
                targets.append(start_baseline(root, args, qs))
            entry.update(measure(targets, args))
        finally:
            for target in targets:
                target.server.stop()
            harness.cleanup_redis_prefix(corpus.env_for(root)["REDIS_KEY_PREFIX"])
        results["sizes"][str(size)] = entry
        harness.write_results(args.out, results)  # partial results survive an interrupted run
    results["tables_markdown"] = tables(results)
    path = harness.write_results(args.out, results)
    harness.log(f"wrote {path}")


def tables(results: dict[str, Any]) -> str:
    rows = []
    for size, entry in results["sizes"].items():
        base = {lv["concurrency"]: lv for lv in entry.get("baseline", {}).get("levels", [])}
        for lv in entry["ours"]["levels"]:
            b = base.get(lv["concurrency"])
            rows.append([
                size, lv["concurrency"], lv["ok"], lv["errors"], lv["rps"], lv["p50_ms"], lv["p95_ms"], lv["p99_ms"],
                lv["overhead_p95_ms"],
                b["rps"] if b else None, b["p50_ms"] if b else None, b["p95_ms"] if b else None,
                b["p99_ms"] if b else None, b["overhead_p95_ms"] if b else None,
                round(lv["rps"] / b["rps"], 2) if b and b["rps"] else None,
                round(lv["p95_ms"] / b["p95_ms"], 2) if b and b["p95_ms"] else None,
                round(lv["overhead_p95_ms"] / b["overhead_p95_ms"], 2) if b and b["overhead_p95_ms"] else None,
                lv["overhead_excl_embed_p95_ms"], b["overhead_excl_embed_p95_ms"] if b else None,
                round(lv["overhead_excl_embed_p95_ms"] / b["overhead_excl_embed_p95_ms"], 2)
                if b and b["overhead_excl_embed_p95_ms"] else None,
            ])
    text = harness.table(
        ["chunks", "conc.", "ok", "err", "ours req/s", "ours p50", "ours p95", "ours p99", "ours overhead p95",
         "base req/s", "base p50", "base p95", "base p99", "base overhead p95", "req/s ours/base",
         "p95 ours/base", "overhead p95 ours/base", "ours overhead excl. embed p95",
         "base overhead excl. embed p95", "excl. embed ours/base"], rows,
        "POST chat/ latency (ms) and throughput, local provider (overhead = latency minus LLM provider time)")
    stage_rows = []
    for size, entry in results["sizes"].items():
        for lv in entry["ours"]["levels"]:
            st = lv["server_stage_median_ms"]
            stage_rows.append([size, lv["concurrency"], *[st.get(k) for k in STAGES]])
    text += "\n" + harness.table(["chunks", "conc.", "session", "history", "condense", "embed (in retrieve)",
                                  "retrieve", "generate", "store"],
                                 stage_rows, "Triple server-side stage medians (ms)")
    return text


if __name__ == "__main__":
    main()
