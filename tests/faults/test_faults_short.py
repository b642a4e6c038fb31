"""The fault script in its short CI form: 16 sessions for 45 s while Redis restarts, the provider hangs and
a worker is killed mid-build. It starts and stops its own stack (own redis-server port, gunicorn, worker,
temporary database and vector store), so it shares nothing with this test run but the CPU."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_nothing_is_lost_under_faults(tmp_path: Path) -> None:
    report_path = tmp_path / "faults.json"
    command = [sys.executable, str(REPO / "bench" / "faults.py"), "--duration", "45", "--sessions", "16",
               "--corpus", "small", "--json", str(report_path)]
    # The script bounds itself (load, phases, joins); this timeout only guards against a hung child.
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert report_path.exists(), out.stdout[-4000:] + out.stderr[-4000:]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    summary = out.stdout[-4000:]

    assert report["database"]["lost"] == 0, summary
    assert report["unclear"] == 0, summary
    assert report["sessions_ended"] == 0, summary  # a Redis restart must not end live sessions
    assert report["crashes"] == 0, summary
    assert set(report["warm_up_statuses"]) == {200}, summary  # a fresh API process, questions in parallel
    assert not report["controller_error"], summary
    assert report["secrets_in_logs"] == [], summary
    assert out.returncode == 0, summary + out.stderr[-2000:]
    # The run really exercised what it claims to.
    assert report["answered"] > 0 and report["made"] >= report["answered"] + report["refused"]
    assert report["vendor_calls"].get("hang", 0) > 0, summary  # generation calls did hang...
    answered_by = [p["answered_by"] for p in report["phases"].values()]
    assert any(by.get("local", 0) > 0 for by in answered_by), summary  # ...and the fallback answered
    assert "redis_down" in report["phases"], summary
    build = report["build"]
    assert build["upload_status"] == 202 and build["killed_at"]["stage"] == "embed", summary
    assert build["rerun_state"] == "succeeded", summary
    # The re-run resumed: the vectors the killed build had stored (at least 6 of the new 24) were copied.
    assert build["rerun_counts"]["embedded"] <= 24 - 6, summary
    assert report["database"]["chat_rows"] >= report["answered"]
