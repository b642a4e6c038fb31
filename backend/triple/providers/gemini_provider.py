"""Gemini provider (chat, streaming, condensation, embeddings) on the `google-genai` SDK.

Retry policy: the SDK's own tenacity loop, configured through `HttpRetryOptions`: at most
PROVIDER_MAX_RETRIES + 1 attempts, exponential backoff from 0.5 s (x2, capped at 8 s, jittered), on the
statuses in `http_compat.RETRY_STATUSES` (429, 500, 502, 503, 504) and on connect errors and timeouts
(the SDK's fixed transient set). Not retried: every other 4xx (the SDK default would also retry 408),
and a connection reset in the middle of a response (the SDK does not count it as transient; it maps to
ProviderUnavailable so the fallback chain takes over). The SDK applies one timeout (PROVIDER_TIMEOUT_SECONDS)
to connect and read alike.

Wire format notes: the SDK sends the key in the `x-goog-api-key` header (never in the URL), and with the
Gemini API (not Vertex) `embed_content` always calls `models/{model}:batchEmbedContents`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings

from triple.providers.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from triple.providers.http_compat import (
    RETRY_STATUSES,
    CallSettings,
    batched,
    check_reachable,
    clean_query,
    error_for_status,
    make_usage,
    scrub,
    transport_errors,
)
from triple.providers.prompts import condense_messages, generation_messages
from triple.providers.registry import ProviderSpec
from triple.providers.types import (
    CondenseResult,
    GenerationRequest,
    GenerationResult,
    Readiness,
    StreamChunk,
    Turn,
)

if TYPE_CHECKING:
    from google.genai import types as genai_types

LABEL = "Gemini"
EMBED_BATCH_SIZE = 100  # batchEmbedContents takes at most 100 requests
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0


def to_gemini(messages: Sequence[dict[str, str]]) -> tuple[str | None, list[genai_types.Content]]:
    """OpenAI-style messages -> (system_instruction, contents): system joins, assistant becomes 'model'."""
    from google.genai import types

    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system") or None
    contents = [
        types.Content(role="model" if m["role"] == "assistant" else "user", parts=[types.Part(text=m["content"])])
        for m in messages
        if m["role"] != "system"
    ]
    return system, contents


class GeminiProvider:
    """One role's Gemini client; `model` is the model id of the role it was built for."""

    name = "gemini"
    label = LABEL
    can_stream = True

    def __init__(self, *, model: str, api_key: str, base_url: str, call: CallSettings) -> None:
        from google import genai
        from google.genai import types

        self.model = model
        self._api_key = api_key
        self._types = types
        retry = types.HttpRetryOptions(
            attempts=call.max_retries + 1,
            initial_delay=INITIAL_RETRY_DELAY,
            max_delay=MAX_RETRY_DELAY,
            exp_base=2.0,
            jitter=0.25,
            http_status_codes=sorted(RETRY_STATUSES),
        )
        http_options = types.HttpOptions(
            base_url=base_url or None,
            timeout=max(1, int(call.read_timeout * 1000)),
            retry_options=retry,
        )
        self._client = genai.Client(vertexai=False, api_key=api_key, http_options=http_options)
        self._timeouts, self._transport = transport_errors()

    # --- errors ---------------------------------------------------------------------

    def _map_error(self, exc: BaseException) -> ProviderError:
        from google.genai import errors

        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, errors.APIError):
            code = int(exc.code or 0)
            detail = scrub(str(exc.message or exc.status or ""), [self._api_key])
            if code == 400 and ("API_KEY_INVALID" in str(exc.details) or "API key not valid" in detail):
                code = 401  # Gemini answers a bad key with 400 INVALID_ARGUMENT
            if code < 400:
                return ProviderUnavailable(f"{LABEL} call failed: {detail[:300]}", provider=self.name)
            return error_for_status(code, LABEL, self.name, detail)
        if self._timeouts and isinstance(exc, self._timeouts):
            return ProviderTimeout(f"{LABEL} did not answer in time.", provider=self.name)
        if self._transport and isinstance(exc, self._transport):
            return ProviderUnavailable(f"{LABEL} could not be reached ({type(exc).__name__}).", provider=self.name)
        raise exc

    @contextlib.contextmanager
    def _mapped(self) -> Iterator[None]:
        from google.genai import errors

        catch: tuple[type[BaseException], ...] = (errors.APIError, *self._timeouts, *self._transport)
        try:
            yield
        except catch as exc:
            raise self._map_error(exc) from None

    # --- helpers --------------------------------------------------------------------

    def _config(self, system: str | None) -> Any:
        # No max_output_tokens: on thinking models (2.5) the thoughts count against it and a tight cap
        # returns an empty answer.
        return self._types.GenerateContentConfig(system_instruction=system)

    @staticmethod
    def _text(response: Any) -> str:
        parts: list[str] = []
        for candidate in (response.candidates or [])[:1]:
            content = candidate.content
            for part in (content.parts if content is not None and content.parts else []):
                if part.text and not part.thought:
                    parts.append(part.text)
        return "".join(parts)

    @staticmethod
    def _counts(response: Any) -> tuple[int | None, int | None]:
        meta = response.usage_metadata
        if meta is None or meta.prompt_token_count is None:
            return None, None
        output = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
        return meta.prompt_token_count, output

    # --- generation -----------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> GenerationResult:
        messages = generation_messages(request)
        system, contents = to_gemini(messages)
        with self._mapped():
            response = self._client.models.generate_content(
                model=self.model, contents=contents, config=self._config(system)
            )
        text = self._text(response).strip()
        return GenerationResult(
            text=text,
            provider=self.name,
            model=response.model_version or self.model,
            usage=make_usage(*self._counts(response), messages, text),
        )

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        messages = generation_messages(request)
        system, contents = to_gemini(messages)
        pieces: list[str] = []
        counts: tuple[int | None, int | None] = (None, None)
        with self._mapped():
            for event in self._client.models.generate_content_stream(
                model=self.model, contents=contents, config=self._config(system)
            ):
                if event.usage_metadata is not None:
                    counts = self._counts(event)
                delta = self._text(event)
                if delta:
                    pieces.append(delta)
                    yield StreamChunk(text=delta)
        yield StreamChunk(usage=make_usage(*counts, messages, "".join(pieces)))

    # --- reasoning ------------------------------------------------------------------

    def condense(self, question: str, history: Sequence[Turn], language: str) -> CondenseResult:
        messages = condense_messages(question, history)
        system, contents = to_gemini(messages)
        with self._mapped():
            response = self._client.models.generate_content(
                model=self.model, contents=contents, config=self._config(system)
            )
        text = self._text(response)
        return CondenseResult(
            query=clean_query(text, question),
            provider=self.name,
            model=response.model_version or self.model,
            usage=make_usage(*self._counts(response), messages, text),
        )

    # --- embeddings -----------------------------------------------------------------

    def _embed(self, texts: Sequence[str], task_type: str) -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in batched(list(texts), EMBED_BATCH_SIZE):
            with self._mapped():
                # One Content per text: given bare strings, the SDK merges them into ONE multi-part content
                # (one embedding) for the multimodal embedding models (gemini-embedding-2 and later).
                response = self._client.models.embed_content(
                    model=self.model,
                    contents=[self._types.Content(role="user", parts=[self._types.Part(text=t)]) for t in batch],
                    config=self._types.EmbedContentConfig(task_type=task_type),
                )
            rows = response.embeddings or []
            if len(rows) != len(batch):
                raise ProviderUnavailable(
                    f"{LABEL} returned {len(rows)} embeddings for {len(batch)} texts.", provider=self.name
                )
            vectors += [[float(x) for x in (row.values or [])] for row in rows]
        return vectors

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._embed(texts, "RETRIEVAL_DOCUMENT")

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text], "RETRIEVAL_QUERY")[0]


# --- registration -------------------------------------------------------------------


def _model_for(role: str) -> str:
    return {
        "generation": settings.GEMINI_CHAT_MODEL,
        "reasoning": settings.GEMINI_REASONING_MODEL,
        "embedding": settings.GEMINI_EMBEDDING_MODEL,
    }[role]


def _build(role: str) -> GeminiProvider:
    return GeminiProvider(
        model=_model_for(role),
        api_key=settings.GEMINI_API_KEY,
        base_url=settings.GEMINI_BASE_URL,
        call=CallSettings.from_settings(),
    )


def _readiness() -> Readiness:
    if not settings.GEMINI_API_KEY:
        return Readiness(False, "Gemini is not configured: set GEMINI_API_KEY (or GOOGLE_API_KEY).")
    try:
        from google import genai  # noqa: F401
    except ImportError:
        return Readiness(False, "Gemini: the google-genai package is not installed.")
    if settings.GEMINI_BASE_URL:
        return check_reachable(settings.GEMINI_BASE_URL, LABEL)
    return Readiness(True)


SPEC = ProviderSpec(
    name="gemini",
    label="Google Gemini",
    roles=frozenset({"embedding", "reasoning", "generation"}),
    needs_key=True,
    key_env_var="GEMINI_API_KEY",
    readiness=_readiness,
    build=_build,
)
