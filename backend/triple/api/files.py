"""Serves images (and only images) from the data directory; paths cannot escape it."""
from __future__ import annotations

import mimetypes

from django.conf import settings
from django.http import FileResponse, HttpRequest, JsonResponse
from django.http.response import HttpResponseBase

from triple.api.errors import error_body

SERVED_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}


def data_file(request: HttpRequest, path: str) -> HttpResponseBase:
    root = settings.DATA_DIR.resolve()
    try:
        target = (root / path).resolve()
        servable = target.is_relative_to(root) and target.suffix.lower() in SERVED_SUFFIXES and target.is_file()
    except (ValueError, OSError):  # a NUL byte or an over-long name is no file of ours, not a crash
        servable = False
    if not servable:
        return JsonResponse(error_body("not_found", "No such file."), status=404)
    response = FileResponse(target.open("rb"), content_type=mimetypes.guess_type(target.name)[0])
    response["Cache-Control"] = "public, max-age=3600"
    return response
