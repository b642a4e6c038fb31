"""The browser session's API session: resumed from the URL after a refresh, created when there is none."""
from __future__ import annotations

import contextlib

from frontend import state
from frontend.client import ApiError
from frontend.connection import client


def ensure_session() -> ApiError | None:
    """Once per browser session: resume `?session=` or create a new session. An expired session is
    kept (and flagged) so the chat page can say so and offer a fresh start; other failures are returned."""
    if state.session_checked():
        return None
    wanted = state.url_session_id()
    try:
        if wanted:
            try:
                state.set_user(client().session_resume(wanted)["user_id"])
                return None
            except ApiError as exc:
                if exc.code == "session_expired":
                    state.set_user(wanted)
                    state.mark_session_expired()
                    return None
                if exc.code not in ("unknown_user", "invalid_user_id"):
                    raise
        state.set_user(client().user_create()["user_id"])
    except ApiError as exc:
        return exc
    return None


def start_new_session() -> ApiError | None:
    """A new conversation: end the current session (if still alive) and open a fresh one."""
    old = state.user_id()
    if old and not state.session_expired():
        # An already-ended session is fine: a new one is started either way.
        with contextlib.suppress(ApiError):
            client().session_end(old)
    try:
        state.set_user(client().user_create()["user_id"])
    except ApiError as exc:
        return exc
    return None
