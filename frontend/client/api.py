"""The HTTP client: public endpoints (`TripleClient`) and operator endpoints (`OperatorClient`)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, cast

import httpx

from frontend.client.errors import BACKEND_TIMEOUT, BACKEND_UNREACHABLE, BAD_RESPONSE, ENDPOINT_UNAVAILABLE, ApiError
from frontend.client.shapes import (
    AuditPage,
    ChatResult,
    Document,
    Health,
    IndexStatus,
    Providers,
    Replay,
    Session,
    Task,
    Turn,
    Upload,
)
from frontend.client.sse import StreamEvent, parse_sse

API_PREFIX = "/api/v1/triple/"


class TripleClient:
    """The public endpoints (sessions, chat, history, feedback, providers, health).

    One instance is shared by every browser session (its connection pool is thread-safe); nothing
    session-specific is stored on it.
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0, stream_timeout: float = 120.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.stream_timeout = stream_timeout
        self._http = httpx.Client(
            base_url=self.base_url + API_PREFIX,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"Accept": "application/json"},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def operator(self, token: str) -> OperatorClient:
        """The operator endpoints, with this token, over the same connection pool."""
        return OperatorClient(self, token)

    # -- plumbing --

    def request(self, method: str, path: str, *, json_body: Any = None, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, files: Any = None, expect_json: bool = True) -> Any:
        try:
            response = self._http.request(method, path, json=json_body, params=_clean(params), headers=headers,
                                          files=files)
        except httpx.TimeoutException as exc:
            raise ApiError(BACKEND_TIMEOUT, f"The API did not answer in time ({exc.__class__.__name__}).") from None
        except httpx.HTTPError as exc:
            raise ApiError(BACKEND_UNREACHABLE, f"The API at {self.base_url} is not reachable ({exc}).") from None
        return _decode(response, expect_json=expect_json)

    def _get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    # -- sessions --

    def user_create(self) -> Session:
        return cast(Session, self.request("POST", "user/", json_body={}))

    def session_resume(self, user_id: str) -> Session:
        """Resume a session; `session_expired` (401) or `unknown_user` (404) when it cannot be."""
        return cast(Session, self.request("POST", "user/", json_body={"user_id": user_id}))

    def activity(self, user_id: str) -> Session:
        return cast(Session, self.request("POST", "activity/", json_body={"user_id": user_id}))

    def session_end(self, user_id: str) -> None:
        self.request("DELETE", "session/", json_body={"user_id": user_id}, expect_json=False)

    def history(self, user_id: str) -> list[Turn]:
        return cast(list[Turn], self._get("history/", user_id=user_id).get("turns", []))

    # -- questions --

    def chat(self, user_id: str, question: str, *, top_k: int | None = None,
             providers: dict[str, str] | None = None) -> ChatResult:
        body = _chat_body(user_id, question, top_k, providers)
        return cast(ChatResult, self.request("POST", "chat/", json_body=body))

    def chat_stream(self, user_id: str, question: str, *, top_k: int | None = None,
                    providers: dict[str, str] | None = None) -> Iterator[StreamEvent]:
        """Yield the answer's SSE events as they arrive. Errors before the stream raise `ApiError`;
        errors during it arrive as an `error` event (and a broken connection raises `ApiError`)."""
        body = _chat_body(user_id, question, top_k, providers)
        timeout = httpx.Timeout(self.stream_timeout, connect=5.0)
        try:
            with self._http.stream("POST", "chat/", json=body, timeout=timeout,
                                   headers={"Accept": "text/event-stream"}) as response:
                if response.status_code >= 400 or "text/event-stream" not in response.headers.get("content-type", ""):
                    response.read()
                    result = _decode(response, expect_json=True)
                    # A server that ignores the Accept header still answers: pass it on as one `done`.
                    yield StreamEvent("done", result)
                    return
                yield from parse_sse(response.iter_lines())
        except httpx.TimeoutException:
            raise ApiError(BACKEND_TIMEOUT, "The answer stopped arriving in time.") from None
        except httpx.HTTPError as exc:
            raise ApiError(BACKEND_UNREACHABLE, f"The connection to the API broke ({exc}).") from None

    def feedback(self, chat_id: str, rating: Literal[1, -1], *, comment: str = "",
                 user_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"chat_id": chat_id, "rating": rating}
        if comment:
            body["comment"] = comment
        if user_id:
            body["user_id"] = user_id
        return cast(dict[str, Any], self.request("POST", "feedback/", json_body=body))

    # -- providers --

    def providers_get(self, user_id: str | None = None) -> Providers:
        return cast(Providers, self._get("providers/", user_id=user_id))

    def providers_set(self, user_id: str, *, preset: str | None = None, reasoning: str | None = None,
                      generation: str | None = None) -> Providers:
        body = _clean({"user_id": user_id, "preset": preset, "reasoning_provider": reasoning,
                       "generation_provider": generation})
        return cast(Providers, self.request("POST", "providers/", json_body=body))

    def providers_reset(self, user_id: str) -> Providers:
        return cast(Providers, self.request("DELETE", "providers/", json_body={"user_id": user_id}))

    # -- status --

    def health(self) -> Health:
        """The health report; a degraded backend answers 503 with the same body, which is returned too."""
        try:
            return cast(Health, self._get("health/"))
        except ApiError as exc:
            if exc.status == 503 and "checks" in exc.extra:
                return cast(Health, exc.extra)
            raise


class OperatorClient:
    """Operator endpoints (documents, index status and rebuilds, tasks, audit): `Authorization: Bearer <token>`."""

    def __init__(self, client: TripleClient, token: str) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {token}"}

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._client.request(method, path, headers=self._headers, **kwargs)

    def documents_list(self) -> list[Document]:
        return cast(list[Document], self._call("GET", "documents/").get("documents", []))

    def document_upload(self, filename: str, content: bytes, content_type: str = "application/octet-stream") -> Upload:
        return cast(Upload, self._call("POST", "documents/", files={"file": (filename, content, content_type)}))

    def document_delete(self, document_id: int | str) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("DELETE", f"documents/{document_id}/", expect_json=False) or {})

    def index_status(self) -> IndexStatus:
        return cast(IndexStatus, self._call("GET", "index/"))

    def index_rebuild(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("POST", "index/rebuild/", json_body={}))

    def task_get(self, task_id: str) -> Task:
        return cast(Task, self._call("GET", f"tasks/{task_id}/"))

    def audit_list(self, *, user_id: str | None = None, date_from: str | None = None, date_to: str | None = None,
                   provider: str | None = None, status: str | None = None, feedback: str | None = None,
                   page: int | None = None) -> AuditPage:
        params = {"user_id": user_id, "date_from": date_from, "date_to": date_to, "provider": provider,
                  "status": status, "feedback": feedback, "page": page}
        return cast(AuditPage, self._call("GET", "audit/", params=params))

    def audit_trace(self, chat_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("GET", f"audit/{chat_id}/"))

    def audit_replay(self, chat_id: str, *, reasoning: str | None = None, generation: str | None = None,
                     use_original_index: bool = False) -> Replay:
        body = _clean({"reasoning_provider": reasoning, "generation_provider": generation,
                       "use_original_index": use_original_index or None})
        return cast(Replay, self._call("POST", f"audit/{chat_id}/replay/", json_body=body))

    def audit_export(self, fmt: Literal["jsonl", "csv"] = "jsonl") -> bytes:
        return cast(bytes, self._call("GET", "audit/export/", params={"format": fmt}, expect_json=False))


def _clean(values: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if values is None else {k: v for k, v in values.items() if v not in (None, "")}


def _chat_body(user_id: str, question: str, top_k: int | None, providers: dict[str, str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"user_id": user_id, "question": question}
    if top_k:
        body["top_k"] = top_k
    if providers:
        body["providers"] = {role: name for role, name in providers.items() if name}
    return body


def _decode(response: httpx.Response, *, expect_json: bool) -> Any:
    """The body of a successful answer, or the `ApiError` the answer describes."""
    if response.status_code < 400:
        if response.status_code == 204 or not response.content:
            return None
        if not expect_json and not response.headers.get("content-type", "").startswith("application/json"):
            return response.content
        try:
            return response.json()
        except ValueError:
            if expect_json:
                raise ApiError(BAD_RESPONSE, "The API answered something that is not JSON.",
                               response.status_code) from None
            return response.content
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "error" not in body:
        # Health answers 503 with its report instead of an error body; keep it for the caller.
        extra = body if isinstance(body, dict) else {}
        raise ApiError(f"http_{response.status_code}", response.reason_phrase or "HTTP error",
                       response.status_code, extra)
    code, message = str(body.get("error")), str(body.get("message", ""))
    if response.status_code in (404, 405) and code in ("not_found", "method_not_allowed") \
            and message in ("No such endpoint.", "Method not allowed."):
        # The route does not exist (yet) on this backend: not the same as "this thing was not found".
        code = ENDPOINT_UNAVAILABLE
    extra = {k: v for k, v in body.items() if k not in ("error", "message")}
    raise ApiError(code, message, response.status_code, extra)
