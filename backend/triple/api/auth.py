"""Who is calling: the session's user id (open mode: body or query) and the operator credential."""
from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from triple.core.errors import Forbidden, InvalidInput, Unauthorized


def caller_user_id(request: Request, body: dict[str, Any] | None = None) -> str:
    """The user id the request acts for: the body's `user_id`, else the query string's."""
    user_id = (body or {}).get("user_id") or request.query_params.get("user_id")
    if not user_id or not isinstance(user_id, str):
        raise InvalidInput("user_id is required (in the JSON body or the query string).", code="missing_user_id")
    if len(user_id) > 64:
        raise InvalidInput("user_id is too long.", code="invalid_user_id")
    return user_id


def _bearer(request: Request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


class IsOperator(BasePermission):
    """Operator endpoints: `Authorization: Bearer <OPERATOR_TOKEN>`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = _bearer(request)
        if not token:
            raise Unauthorized("This endpoint needs the operator token (Authorization: Bearer ...).",
                               code="operator_auth_required")
        if not settings.OPERATOR_TOKEN or not hmac.compare_digest(token, settings.OPERATOR_TOKEN):
            raise Forbidden("The operator token is not valid.", code="operator_forbidden")
        return True
