"""Test settings: the real settings, with per-run isolation (own vector store, own Redis key prefix,
a file-based test database that subprocesses such as a Celery worker can open)."""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from config.settings import *
from config.settings import DATABASES

TRIPLE_ENV = "test"
DEBUG = False
TEST_TMP_DIR = Path(tempfile.mkdtemp(prefix="triple-test-"))
VECTOR_STORE_DIR = TEST_TMP_DIR / "vector_store"
REDIS_KEY_PREFIX = f"triple-test-{uuid.uuid4().hex[:10]}"
OPERATOR_TOKEN = "test-operator-token"
# Answer cache off by default: a cached answer would hide the provider a test set up; cache tests turn it on.
ANSWER_CACHE_TTL = 0
# Rate limits off by default: the whole suite comes from one IP; throttling tests turn them on.
RATE_LIMIT_USER = ""
RATE_LIMIT_IP = ""
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(TEST_TMP_DIR / "test.sqlite3")}
os.environ.setdefault("HF_HUB_OFFLINE", "1")
