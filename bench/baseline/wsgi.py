"""WSGI entry of the baseline server: gunicorn bench.baseline.wsgi:application (cwd = repository root)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for entry in (str(REPO), str(REPO / "backend")):
    if entry not in sys.path:
        sys.path.insert(0, entry)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.baseline.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
