"""Who is calling.

Two modes, chosen by `AUTH_MODE`:

- `open` (default): the caller names its session with `user_id` in the JSON body or the query string. The id
  is 192 random bits, so knowing it is the credential.
- `jwt`: `POST user/` also returns an access token and a refresh token (djangorestframework-simplejwt, HS256,
  signed with SECRET_KEY) whose `user_id` claim is the session's user id. `Authorization: Bearer <access>`
  identifies the caller; a `user_id` in the body or query that names someone else is refused with 403
  `user_mismatch`. As the API draft requires, chat/activity/session also accept a body `user_id` without
  a header; history does not, and neither does resuming with `POST user/` (which mints tokens): a bare
  user id never yields a token.

Tokens never outlive the session they name: an access token expires at the session's deadline when it is
issued, and every request is validated against the live session anyway (an ended session answers 401
`session_expired` even with an unexpired token).

Operator endpoints take `Authorization: Bearer <OPERATOR_TOKEN>` or a staff JWT (claim `staff: true`,
printed by `python manage.py operator_token`), in either mode.
"""
from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from triple.core.errors import ApplicationError, Forbidden, InvalidInput, Unauthorized

USER_CLAIM = "user_id"
STAFF_CLAIM = "staff"


def jwt_enabled() -> bool:
    return settings.AUTH_MODE == "jwt"


def _bearer(request: Request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def _claimed_user_id(request: Request, body: dict[str, Any] | None) -> str | None:
    user_id = (body or {}).get("user_id") or request.query_params.get("user_id")
    if user_id is None or user_id == "":
        return None
    if not isinstance(user_id, str) or len(user_id) > 64:
        raise InvalidInput("user_id must be a string of at most 64 characters.", code="invalid_user_id")
    return user_id


def token_user_id(raw: str) -> str:
    """The session user id inside a valid access token; 401 `invalid_token` otherwise."""
    try:
        token = AccessToken(raw)  # type: ignore[arg-type]  # simplejwt accepts the encoded string
    except TokenError:
        raise Unauthorized("The bearer token is invalid or has expired; refresh it with POST token/refresh/.",
                           code="invalid_token") from None
    user_id = token.get(USER_CLAIM)
    if not isinstance(user_id, str) or not user_id or token.get(STAFF_CLAIM):
        raise Unauthorized("The bearer token does not name a session.", code="invalid_token")
    return user_id


def caller_user_id(request: Request, body: dict[str, Any] | None = None, *, allow_body: bool = True) -> str:
    """The session user id the request acts for.

    jwt mode: the Bearer token's user id wins; a body/query `user_id` naming another user → 403
    `user_mismatch`. Without a header, the body/query `user_id` is used when `allow_body` (chat, activity,
    session end), else 401 `token_required`. open mode: the body's `user_id`, else the query string's.
    """
    claimed = _claimed_user_id(request, body)
    if jwt_enabled():
        raw = _bearer(request)
        if raw:
            user_id = token_user_id(raw)
            if claimed and claimed != user_id:
                raise Forbidden("The user_id does not match the bearer token.", code="user_mismatch")
            return user_id
        if not allow_body:
            raise Unauthorized("This endpoint needs Authorization: Bearer <access token> (AUTH_MODE=jwt).",
                               code="token_required")
    if not claimed:
        raise InvalidInput("user_id is required (in the JSON body or the query string).", code="missing_user_id")
    return claimed


def caller_user_id_optional(request: Request, body: dict[str, Any] | None = None, *,
                            allow_body: bool = True) -> str | None:
    """Like `caller_user_id`, but None when the request names nobody (e.g. feedback by chat id alone)."""
    if (jwt_enabled() and _bearer(request)) or _claimed_user_id(request, body):
        return caller_user_id(request, body, allow_body=allow_body)
    return None


def throttle_user_id(request: Request) -> str | None:
    """Best-effort identity for rate limiting. Bad credentials are left to the view to report; a body that
    does not parse raises here as it would there (DRF parses once, so swallowing it would hide the error)."""
    body = request.data if isinstance(request.data, dict) else None
    try:
        return caller_user_id_optional(request, body)
    except ApplicationError:
        return None


def session_tokens(*, user_id: str, expires_at: datetime) -> dict[str, str]:
    """An access token that expires with the session's current deadline, and a refresh token
    (JWT_REFRESH_LIFETIME_SECONDS) that can mint new access tokens while the session lives."""
    refresh = RefreshToken()
    refresh[USER_CLAIM] = user_id
    return {"token": access_token(user_id=user_id, expires_at=expires_at), "refresh": str(refresh)}


def access_token(*, user_id: str, expires_at: datetime) -> str:
    access = AccessToken()
    access[USER_CLAIM] = user_id
    access.set_exp(from_time=expires_at, lifetime=timedelta(0))
    return str(access)


def refresh_user_id(raw: str) -> str:
    """The session user id inside a valid refresh token; 401 `invalid_token` otherwise."""
    try:
        token = RefreshToken(raw)  # type: ignore[arg-type]
    except TokenError:
        raise Unauthorized("The refresh token is invalid or has expired; create a session with POST user/.",
                           code="invalid_token") from None
    user_id = token.get(USER_CLAIM)
    if not isinstance(user_id, str) or not user_id:
        raise Unauthorized("The refresh token does not name a session.", code="invalid_token")
    return user_id


def operator_jwt(*, hours: float = 12.0, name: str = "operator") -> str:
    """A staff access token for the operator endpoints (printed by `manage.py operator_token`)."""
    token = AccessToken()
    token[USER_CLAIM] = f"{name}:{secrets.token_hex(4)}"
    token[STAFF_CLAIM] = True
    token.set_exp(lifetime=timedelta(hours=hours))
    return str(token)


def _is_staff_jwt(raw: str) -> bool:
    try:
        return AccessToken(raw).get(STAFF_CLAIM) is True  # type: ignore[arg-type]
    except TokenError:
        return False


class IsOperator(BasePermission):
    """Operator endpoints: `Authorization: Bearer <OPERATOR_TOKEN>` or a staff JWT."""

    def has_permission(self, request: Request, view: Any) -> bool:
        token = _bearer(request)
        if not token:
            raise Unauthorized("This endpoint needs the operator token (Authorization: Bearer ...).",
                               code="operator_auth_required")
        if settings.OPERATOR_TOKEN and hmac.compare_digest(token.encode(), settings.OPERATOR_TOKEN.encode()):
            return True
        if token.count(".") == 2 and _is_staff_jwt(token):
            return True
        raise Forbidden("The operator token is not valid.", code="operator_forbidden")
