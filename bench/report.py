#!/usr/bin/env python3
"""Print the markdown tables of every bench/results/*.json (newest run of each script), for docs/benchmarks.md."""
from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

for path in sorted(RESULTS.glob(sys.argv[1] if len(sys.argv) > 1 else "*.json")):
    data = json.loads(path.read_text(encoding="utf-8"))
    if "tables_markdown" not in data:
        continue
    m = data.get("machine", {})
    print(f"\n## {path.name}: `{data.get('command', '')}`")
    print(f"{m.get('when_utc')} UTC, git {m.get('git_head', '?')}, {m.get('nproc')} x {m.get('cpu')}, "
          f"{m.get('ram_gb')} GB, load at start {m.get('loadavg_at_start')}")
    print(data["tables_markdown"])
