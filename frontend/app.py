"""Triple's Streamlit entry point: the router (st.navigation) and the frame (sidebar, session).

Run with `streamlit run frontend/app.py`; the backend URL comes from TRIPLE_API_URL.
"""
from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run frontend/app.py` puts frontend/ on sys.path; the package imports need the repository root.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from frontend import state  # noqa: E402
from frontend.components.errors import show_error  # noqa: E402
from frontend.components.sidebar import render_sidebar  # noqa: E402
from frontend.sessions import ensure_session  # noqa: E402

st.set_page_config(page_title="Triple", page_icon="🔺", layout="wide")

session_error = ensure_session()
state.keep_session_in_url()
render_sidebar()

pages = {
    state.t("nav_section_ask"): [
        st.Page("pages/chat.py", title=state.t("nav_chat"), icon="💬", url_path="chat", default=True),
    ],
    state.t("nav_section_operator"): [
        st.Page("pages/documents.py", title=state.t("nav_documents"), icon="📄", url_path="documents"),
        st.Page("pages/audit.py", title=state.t("nav_audit"), icon="🔎", url_path="audit"),
        st.Page("pages/health.py", title=state.t("nav_health"), icon="🩺", url_path="health"),
    ],
}
page = st.navigation(pages)
if session_error is not None:
    show_error(session_error)
page.run()
