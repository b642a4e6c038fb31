"""AUTH_MODE=jwt: header vs body, user isolation, refresh, staff JWT on operator endpoints."""
from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from triple.api.auth import session_tokens
from triple.conversations.models import Chat
from triple.sessions.models import User

pytestmark = pytest.mark.django_db
API = "/api/v1/triple/"


@pytest.fixture
def jwt_mode(settings: Any) -> None:
    settings.AUTH_MODE = "jwt"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def new_session(api: Any) -> dict[str, Any]:
    response = api.post(API + "user/", {}, format="json")
    assert response.status_code == 201
    return dict(response.json())


def test_jwt_session_carries_tokens_that_expire_with_the_session(api: Any, jwt_mode: None) -> None:
    session = new_session(api)
    assert set(session) == {"user_id", "expires_at", "token", "refresh"}
    access = AccessToken(session["token"])  # type: ignore[arg-type]
    assert access["user_id"] == session["user_id"]
    assert access["exp"] == int(User.objects.get(user_id=session["user_id"]).expires_at.timestamp())


def test_jwt_resume_needs_the_token_not_a_bare_user_id(api: Any, jwt_mode: None) -> None:
    session = new_session(api)
    bare = api.post(API + "user/", {"user_id": session["user_id"]}, format="json")
    assert bare.status_code == 401 and bare.json()["error"] == "token_required"
    resumed = bearer(session["token"]).post(API + "user/", {}, format="json")
    assert resumed.status_code == 200 and resumed.json()["user_id"] == session["user_id"]
    assert AccessToken(resumed.json()["token"])["user_id"] == session["user_id"]  # type: ignore[arg-type]


def test_open_mode_returns_no_token_and_ignores_headers(api: Any) -> None:
    session = new_session(api)
    assert "token" not in session
    response = bearer("not-a-jwt").post(API + "activity/", {"user_id": session["user_id"]}, format="json")
    assert response.status_code == 200


def test_header_path_and_body_path_both_work_and_the_header_wins(api: Any, jwt_mode: None) -> None:
    alice, bob = new_session(api), new_session(api)
    as_alice = bearer(alice["token"])
    assert as_alice.post(API + "activity/", {}, format="json").status_code == 200
    by_body = api.post(API + "activity/", {"user_id": bob["user_id"]}, format="json")
    assert by_body.status_code == 200 and by_body.json()["user_id"] == bob["user_id"]
    assert as_alice.post(API + "activity/", {"user_id": alice["user_id"]}, format="json").status_code == 200
    mismatch = as_alice.post(API + "activity/", {"user_id": bob["user_id"]}, format="json")
    assert mismatch.status_code == 403 and mismatch.json()["error"] == "user_mismatch"
    chat = as_alice.post(API + "chat/", {"user_id": bob["user_id"], "question": "텐트 가격은?"}, format="json")
    assert chat.status_code == 403 and chat.json()["error"] == "user_mismatch"
    assert not Chat.objects.filter(user_id__in=[alice["user_id"], bob["user_id"]]).exists()
    bad = bearer(alice["token"] + "x").post(API + "activity/", {}, format="json")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"


def test_chat_with_only_the_header_is_recorded_for_the_tokens_user(api: Any, jwt_mode: None,
                                                                    built_index: Any) -> None:
    alice = new_session(api)
    response = bearer(alice["token"]).post(API + "chat/", {"question": "반품은 며칠 이내에 가능한가요?"},
                                           format="json")
    assert response.status_code == 200, response.content
    assert Chat.objects.get(id=response.json()["chat_id"]).user_id == alice["user_id"]
    history = bearer(alice["token"]).get(API + "history/").json()
    assert [t["role"] for t in history["turns"]] == ["user", "assistant"]


def test_history_and_feedback_never_cross_users_in_jwt_mode(api: Any, jwt_mode: None) -> None:
    alice, bob = new_session(api), new_session(api)
    chat = Chat.objects.create(user_id=alice["user_id"], question="q", response="a")
    as_bob = bearer(bob["token"])
    assert as_bob.get(API + "history/").json()["user_id"] == bob["user_id"]
    crossed = as_bob.get(API + "history/", {"user_id": alice["user_id"]})
    assert crossed.status_code == 403 and crossed.json()["error"] == "user_mismatch"
    no_token = api.get(API + "history/", {"user_id": alice["user_id"]})
    assert no_token.status_code == 401 and no_token.json()["error"] == "token_required"
    feedback = as_bob.post(API + "feedback/", {"chat_id": str(chat.id), "rating": 1}, format="json")
    assert feedback.status_code == 403 and feedback.json()["error"] == "not_your_chat"
    own = bearer(alice["token"]).post(API + "feedback/", {"chat_id": str(chat.id), "rating": 1}, format="json")
    assert own.status_code == 201


def test_refresh_mints_access_only_while_the_session_lives(api: Any, jwt_mode: None) -> None:
    alice = new_session(api)
    refreshed = api.post(API + "token/refresh/", {"refresh": alice["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert bearer(refreshed.json()["token"]).post(API + "activity/", {}, format="json").status_code == 200
    assert bearer(alice["token"]).delete(API + "session/", {}, format="json").status_code == 204
    ended = bearer(refreshed.json()["token"]).post(API + "activity/", {}, format="json")
    assert ended.status_code == 401 and ended.json()["error"] == "session_expired"
    again = api.post(API + "token/refresh/", {"refresh": alice["refresh"]}, format="json")
    assert again.status_code == 401 and again.json()["error"] == "session_expired"
    forged = api.post(API + "token/refresh/", {"refresh": alice["token"]}, format="json")  # an access token
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_token"


def test_operator_endpoints_take_the_operator_token_or_a_staff_jwt(api: Any, operator_api: Any,
                                                                   settings: Any) -> None:
    out = StringIO()
    call_command("operator_token", "--hours", "1", stdout=out)
    staff = out.getvalue().strip()
    assert operator_api.get(API + "index/").status_code == 200
    assert bearer(staff).get(API + "index/").status_code == 200
    assert api.get(API + "index/").status_code == 401
    session = new_session(api)
    user_token = session_tokens(user_id=session["user_id"], expires_at=User.objects.get(
        user_id=session["user_id"]).expires_at)["token"]
    refused = bearer(user_token).get(API + "index/")
    assert refused.status_code == 403 and refused.json()["error"] == "operator_forbidden"
    # …and a staff token is not a session credential.
    settings.AUTH_MODE = "jwt"
    assert bearer(staff).post(API + "activity/", {}, format="json").json()["error"] == "invalid_token"
