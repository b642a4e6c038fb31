"""The operator gate: the token from the environment, or asked for once in a password field."""
from __future__ import annotations

import streamlit as st

from frontend import state
from frontend.client import OperatorClient
from frontend.config import load_config
from frontend.connection import operator_client


def require_operator() -> OperatorClient | None:
    """The operator client, or None after showing the token field (the page then stops rendering)."""
    op = operator_client()
    if op is not None:
        if state.operator_token() and not load_config().operator_token and st.sidebar.button(
                state.t("operator_token_forget"), key="forget_token"):
            state.set_operator_token("")
            st.rerun()
        return op
    st.info(state.t("operator_token_help"), icon="🔑")
    with st.form("operator_token_form"):
        token = st.text_input(state.t("operator_token"), type="password", key="operator_token_input")
        if st.form_submit_button(state.t("operator_token_save")) and token.strip():
            state.set_operator_token(token)
            st.rerun()
    return None
