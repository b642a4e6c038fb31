"""A fresh API process answering its first questions on several threads at once must not fail while the
embedded Chroma client is created (bench/faults.py saw 2 of 6 warm-up questions answer 500)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings

PROGRAM = r"""
import sys, threading
import django
django.setup()
from triple.retrieval.vector_store import vector_store

barrier, errors = threading.Barrier(8), []

def first_query():
    barrier.wait()
    try:
        vector_store().heartbeat()
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")

threads = [threading.Thread(target=first_query) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print(errors)
sys.exit(1 if errors else 0)
"""


def test_concurrent_first_use_of_the_embedded_vector_store(tmp_path: Path) -> None:
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", "TRIPLE_ENV": "test", "SECRET_KEY": "x",
           "VECTOR_STORE_DIR": str(tmp_path / "vs"), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    for attempt in range(3):  # a race: a few fresh processes, each must be clean
        env["VECTOR_STORE_DIR"] = str(tmp_path / f"vs{attempt}")
        out = subprocess.run([sys.executable, "-c", PROGRAM], cwd=settings.BASE_DIR, env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
