"""OpenAI provider (chat, streaming, condensation, embeddings) on the official `openai` SDK.

`OpenAICompatibleProvider` also serves any OpenAI-compatible endpoint (see `qwen_provider`).

Retry policy: the SDK retries (up to PROVIDER_MAX_RETRIES, exponential backoff 0.5 s doubling to 8 s
with jitter) on timeouts, connection errors and the statuses in `http_compat.RETRY_STATUSES` (429, 500,
502, 503, 504). The SDK by itself would also retry 408, 409, any 5xx, and any status the server marks
with `x-should-retry: true`, and would wait out a Retry-After of up to 60 s; `_should_retry` below narrows
that, so no other 4xx is ever retried and a long Retry-After falls back at once instead.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.conf import settings

from triple.providers.errors import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from triple.providers.http_compat import (
    MAX_RETRY_AFTER_SECONDS,
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

DEFAULT_BASE_URL = "https://api.openai.com/v1"
CONDENSE_MAX_TOKENS = 128

_client_class: type | None = None


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue  # an HTTP date; the SDK itself caps those
        if math.isfinite(value):
            return value
    return None


def client_class() -> type:
    """`openai.OpenAI` with the retry decision narrowed to our policy (built lazily: the SDK is optional)."""
    global _client_class
    if _client_class is None:
        import openai

        class _TripleOpenAI(openai.OpenAI):
            def _should_retry(self, response: Any) -> bool:
                if response.status_code not in RETRY_STATUSES:
                    return False
                retry_after = _retry_after_seconds(response.headers)
                if retry_after is not None and retry_after > MAX_RETRY_AFTER_SECONDS:
                    return False
                return bool(response.headers.get("x-should-retry") != "false")

        _client_class = _TripleOpenAI
    return _client_class


class OpenAICompatibleProvider:
    """One role's client for the OpenAI chat-completions / embeddings wire format.

    The same class answers generation (`generate`, `stream`), reasoning (`condense`) and embedding
    (`embed_documents`, `embed_query`); `model` is the model id of the role it was built for.
    """

    can_stream = True

    def __init__(
        self,
        *,
        name: str,
        label: str,
        model: str,
        base_url: str,
        api_key: str,
        call: CallSettings,
        embed_batch_size: int = 256,
        max_tokens_field: str = "max_completion_tokens",
    ) -> None:
        import openai

        self.name = name
        self.label = label
        self.model = model
        self.embed_batch_size = embed_batch_size
        self.max_tokens_field = max_tokens_field
        self._api_key = api_key
        self._timeouts, self._transport = transport_errors()
        self._client = client_class()(
            base_url=base_url,
            api_key=api_key,
            timeout=openai.Timeout(call.read_timeout, connect=call.connect_timeout),
            max_retries=call.max_retries,
        )

    # --- errors ---------------------------------------------------------------------

    def _map_error(self, exc: BaseException) -> ProviderError:
        import openai

        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, openai.APITimeoutError) or (self._timeouts and isinstance(exc, self._timeouts)):
            return ProviderTimeout(f"{self.label} did not answer in time.", provider=self.name)
        if isinstance(exc, openai.APIConnectionError):
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
            return ProviderUnavailable(f"{self.label} could not be reached ({cause}).", provider=self.name)
        if isinstance(exc, openai.APIStatusError):
            detail = scrub(_status_detail(exc), [self._api_key])
            return error_for_status(exc.status_code, self.label, self.name, detail)
        if isinstance(exc, openai.OpenAIError):
            message = scrub(str(exc), [self._api_key])[:300]
            return ProviderUnavailable(f"{self.label} call failed: {message}", provider=self.name)
        if self._transport and isinstance(exc, self._transport):
            return ProviderUnavailable(f"{self.label} connection failed ({type(exc).__name__}).", provider=self.name)
        raise exc

    @contextlib.contextmanager
    def _mapped(self) -> Iterator[None]:
        import openai

        catch: tuple[type[BaseException], ...] = (openai.OpenAIError, *self._timeouts, *self._transport)
        try:
            yield
        except catch as exc:
            raise self._map_error(exc) from None

    # --- generation -----------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> GenerationResult:
        messages = generation_messages(request)
        with self._mapped():
            response = self._client.chat.completions.create(model=self.model, messages=messages)
        text = _message_text(response)
        usage = response.usage
        return GenerationResult(
            text=text,
            provider=self.name,
            model=response.model or self.model,
            usage=make_usage(
                getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None), messages, text
            ),
        )

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        messages = generation_messages(request)
        pieces: list[str] = []
        prompt_tokens: int | None = None
        completion_tokens: int | None = None
        with self._mapped():
            response = self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
            try:
                for event in response:
                    if event.usage is not None:
                        prompt_tokens = event.usage.prompt_tokens
                        completion_tokens = event.usage.completion_tokens
                    for choice in event.choices or []:
                        delta = choice.delta.content if choice.delta is not None else None
                        if delta:
                            pieces.append(delta)
                            yield StreamChunk(text=delta)
            finally:
                response.close()
        yield StreamChunk(usage=make_usage(prompt_tokens, completion_tokens, messages, "".join(pieces)))

    # --- reasoning ------------------------------------------------------------------

    def condense(self, question: str, history: Sequence[Turn], language: str) -> CondenseResult:
        messages = condense_messages(question, history)
        with self._mapped():
            response = self._client.chat.completions.create(
                model=self.model, messages=messages, **{self.max_tokens_field: CONDENSE_MAX_TOKENS}
            )
        text = _message_text(response)
        usage = response.usage
        return CondenseResult(
            query=clean_query(text, question),
            provider=self.name,
            model=response.model or self.model,
            usage=make_usage(
                getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None), messages, text
            ),
        )

    # --- embeddings -----------------------------------------------------------------

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in batched(list(texts), self.embed_batch_size):
            with self._mapped():
                response = self._client.embeddings.create(model=self.model, input=list(batch))
            rows = sorted(response.data, key=lambda item: item.index)
            if len(rows) != len(batch):
                raise ProviderUnavailable(
                    f"{self.label} returned {len(rows)} embeddings for {len(batch)} texts.", provider=self.name
                )
            vectors += [[float(x) for x in row.embedding] for row in rows]
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _message_text(response: Any) -> str:
    if not response.choices:
        return ""
    return (response.choices[0].message.content or "").strip()


def _status_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return ""


# --- registration -------------------------------------------------------------------


def _model_for(role: str) -> str:
    return {
        "generation": settings.OPENAI_CHAT_MODEL,
        "reasoning": settings.OPENAI_REASONING_MODEL,
        "embedding": settings.OPENAI_EMBEDDING_MODEL,
    }[role]


def _build(role: str) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        name="openai",
        label="OpenAI",
        model=_model_for(role),
        base_url=settings.OPENAI_BASE_URL or DEFAULT_BASE_URL,
        api_key=settings.OPENAI_API_KEY,
        call=CallSettings.from_settings(),
    )


def _readiness() -> Readiness:
    if not settings.OPENAI_API_KEY:
        return Readiness(False, "OpenAI is not configured: set OPENAI_API_KEY.")
    try:
        import openai  # noqa: F401
    except ImportError:
        return Readiness(False, "OpenAI: the openai package is not installed.")
    if settings.OPENAI_BASE_URL:
        return check_reachable(settings.OPENAI_BASE_URL, "OpenAI")
    return Readiness(True)


SPEC = ProviderSpec(
    name="openai",
    label="OpenAI",
    roles=frozenset({"embedding", "reasoning", "generation"}),
    needs_key=True,
    key_env_var="OPENAI_API_KEY",
    readiness=_readiness,
    build=_build,
)
