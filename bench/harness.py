"""Shared plumbing for the benchmark scripts: an isolated Django (own SQLite, vector store, Redis prefix),
the machine description, result files and table printing. Bench-only; the product never imports it."""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BACKEND = REPO / "backend"
RESULTS = REPO / "bench" / "results"
if str(BACKEND) not in sys.path:
    sys.path.insert(0, str(BACKEND))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def bench_env(tmp: Path, *, data_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """Environment of an isolated Triple: nothing it writes touches the developer's db, store or Redis keys."""
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "TRIPLE_ENV": "test",
        "DEBUG": "0",  # DEBUG keeps every SQL query in memory: it would distort time and RSS
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "VECTOR_STORE_DIR": str(tmp / "vector_store"),
        "DATA_DIR": str(data_dir or REPO / "data"),
        "REDIS_KEY_PREFIX": f"triple-bench-{uuid.uuid4().hex[:10]}",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "LOG_LEVEL": "WARNING",
        # Rate limits (settings added by another issue) set far above any load this bench generates.
        "RATE_LIMIT_USER": "1000000/min",
        "RATE_LIMIT_IP": "1000000/min",
        "RATE_LIMIT_ENABLED": "0",
    }
    env.update(extra)
    return env


def setup_django(tmp: Path, *, data_dir: Path | None = None, migrate: bool = True, **extra: str) -> None:
    import signal

    # SIGTERM (how a runaway bench is stopped) unwinds like Ctrl-C, so temporary directories get removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.update(bench_env(tmp, data_dir=data_dir, **extra))
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def cleanup_redis() -> None:
    try:
        from triple.core import redis as triple_redis

        triple_redis.delete_prefixed_keys()
    except Exception:
        pass


def cleanup_redis_prefix(prefix: str, url: str = "") -> None:
    """Delete a bench run's Redis keys (sessions and history written by the servers it started)."""
    try:
        import redis

        client = redis.Redis.from_url(url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    except Exception:
        pass


def make_tmp(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_tmp(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    load = os.getloadavg()
    import subprocess

    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(mem_kb / 1024 / 1024, 1),
            "git_head": git.stdout.strip(),
            "python": platform.python_version(), "loadavg_at_start": [round(x, 2) for x in load],
            "when_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}


def eval_questions(sets: Sequence[str] = ("ko", "en")) -> list[str]:
    """The questions of the shipped eval sets (data/eval/<set>.jsonl), set by set in file order."""
    out = []
    for name in sets:
        for line in (REPO / "data" / "eval" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["question"])
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile by nearest rank (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"machine": machine(), "command": " ".join([Path(sys.executable).name, *sys.argv]), **payload}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A GitHub-flavoured markdown table (the same text goes to stdout and to docs/benchmarks.md)."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
        return "" if value is None else str(value)

    lines = [f"\n### {title}\n"] if title else []
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
