"""Typed HTTP client for the Triple API (`/api/v1/triple/`). No streamlit import: it is used and tested alone.

Every failure, whether the API answered `{error, message}` or the network failed, becomes one
`ApiError` with a stable `code`, so the UI can map codes to plain words and never shows a traceback.
"""
from frontend.client.api import API_PREFIX, OperatorClient, TripleClient
from frontend.client.errors import (
    BACKEND_TIMEOUT,
    BACKEND_UNREACHABLE,
    BAD_RESPONSE,
    ENDPOINT_UNAVAILABLE,
    ApiError,
)
from frontend.client.shapes import (
    AuditPage,
    AuditRow,
    ChatResult,
    Document,
    Health,
    IndexBuild,
    IndexStatus,
    Progress,
    Providers,
    ProviderStatus,
    ProviderUse,
    Replay,
    Session,
    Source,
    Task,
    Turn,
    Upload,
)
from frontend.client.sse import StreamEvent, parse_sse

__all__ = [
    "API_PREFIX", "BACKEND_TIMEOUT", "BACKEND_UNREACHABLE", "BAD_RESPONSE", "ENDPOINT_UNAVAILABLE", "ApiError",
    "AuditPage", "AuditRow", "ChatResult", "Document", "Health", "IndexBuild", "IndexStatus", "OperatorClient",
    "Progress", "ProviderStatus", "ProviderUse", "Providers", "Replay", "Session", "Source", "StreamEvent", "Task",
    "TripleClient", "Turn", "Upload", "parse_sse",
]
