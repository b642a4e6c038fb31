"""A live progress bar for a background task (upload indexing, rebuild), polled until it ends."""
from __future__ import annotations

import time

import streamlit as st

from frontend import state
from frontend.client import ApiError, OperatorClient, Task
from frontend.components.errors import show_error

TERMINAL = ("succeeded", "unchanged", "failed")
POLL_SECONDS = 0.5
WATCH_SECONDS = 600.0


def _fraction(task: Task) -> float:
    progress = task.get("progress") or {}
    total, done = progress.get("total") or 0, progress.get("done") or 0
    if task.get("state") in ("succeeded", "unchanged"):
        return 1.0
    return min(1.0, done / total) if total else 0.0


def _label(task: Task) -> str:
    progress = task.get("progress") or {}
    if task.get("state") == "queued" or not progress.get("total"):
        return state.t("task_queued")
    return state.t("task_progress", stage=progress.get("stage") or task.get("state", ""),
                   done=progress.get("done", 0), total=progress.get("total", 0))


def watch_task(op: OperatorClient, *, poll_seconds: float = POLL_SECONDS,
               watch_seconds: float = WATCH_SECONDS) -> Task | None:
    """Poll the running task and move a progress bar until it finishes or fails (shown with its error).
    The task id stays in session state, so leaving and reopening the page resumes the watch."""
    running = state.running_task()
    if running is None:
        return None
    st.markdown(f"**{running.label}**")
    bar = st.progress(0.0, text=state.t("task_queued"))
    deadline = time.monotonic() + watch_seconds
    task: Task | None = None
    while time.monotonic() < deadline:
        try:
            task = op.task_get(running.task_id)
        except ApiError as exc:
            state.set_running_task(None)
            show_error(exc, what="tasks/")
            return None
        if task.get("state") in TERMINAL:
            break
        bar.progress(_fraction(task), text=_label(task))
        time.sleep(poll_seconds)
    else:
        st.warning(state.t("task_timeout"))
        return task
    state.set_running_task(None)
    if task.get("state") == "failed":
        bar.progress(_fraction(task), text=state.t("task_failed", error=task.get("error") or "?"))
        st.error(state.t("task_failed", error=task.get("error") or "?"), icon="⚠️")
    else:
        bar.progress(1.0, text=state.t("task_done", state=task.get("state")))
        st.success(state.t("task_done", state=task.get("state")), icon="✅")
    return task
