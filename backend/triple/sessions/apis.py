"""Session endpoints: create/resume, activity, end, history, token refresh. Thin: validate, call one service
or selector, serialize. Who the caller is comes from `triple.api.auth` (open or jwt mode)."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from triple.api import auth
from triple.api.throttling import IpRateThrottle
from triple.sessions import selectors, services
from triple.sessions.models import User


class SessionOutput(serializers.Serializer):
    user_id = serializers.CharField()
    expires_at = serializers.DateTimeField()
    token = serializers.CharField(required=False, help_text="Access token (AUTH_MODE=jwt only).")
    refresh = serializers.CharField(required=False, help_text="Refresh token (AUTH_MODE=jwt only).")


def _session_payload(user: User, *, with_refresh: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {"user_id": user.user_id, "expires_at": user.expires_at}
    if auth.jwt_enabled():
        if with_refresh:
            payload.update(auth.session_tokens(user_id=user.user_id, expires_at=user.expires_at))
        else:
            payload["token"] = auth.access_token(user_id=user.user_id, expires_at=user.expires_at)
    return SessionOutput(payload).data


class UserCreateApi(APIView):
    throttle_classes = [IpRateThrottle]

    class InputSerializer(serializers.Serializer):
        user_id = serializers.CharField(required=False, allow_blank=True, max_length=64)

    @extend_schema(request=InputSerializer, responses={200: SessionOutput, 201: SessionOutput},
                   operation_id="user_create",
                   description="Without user_id: a new session (201). With user_id (open mode) or the Bearer "
                   "token (jwt mode): resume and extend that session (200); 401 session_expired when it has ended.")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # jwt mode: resuming mints tokens, so it takes the Bearer token, never a bare user id.
        user_id = auth.caller_user_id_optional(request, data.validated_data, allow_body=False)
        if user_id:
            return Response(_session_payload(services.session_resume(user_id=user_id), with_refresh=True))
        return Response(_session_payload(services.user_create(), with_refresh=True), status=201)


class ActivityApi(APIView):
    class InputSerializer(serializers.Serializer):
        user_id = serializers.CharField(required=False, max_length=64)

    @extend_schema(request=InputSerializer, responses={200: SessionOutput}, operation_id="activity",
                   description="Extend the caller's session. In jwt mode the answer carries a fresh access "
                   "token that expires with the new deadline.")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.session_resume(user_id=auth.caller_user_id(request, data.validated_data))
        return Response(_session_payload(user, with_refresh=False))


class SessionEndApi(APIView):
    class InputSerializer(serializers.Serializer):
        user_id = serializers.CharField(required=False, max_length=64)

    @extend_schema(request=InputSerializer, responses={204: None}, operation_id="session_end")
    def delete(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.session_validate(user_id=auth.caller_user_id(request, data.validated_data))
        services.session_expire(user=user)
        return Response(status=204)


class HistoryApi(APIView):
    class TurnOutput(serializers.Serializer):
        role = serializers.ChoiceField(choices=["user", "assistant"])
        content = serializers.CharField()
        chat_id = serializers.CharField()
        created_at = serializers.CharField(required=False)

    class OutputSerializer(serializers.Serializer):
        user_id = serializers.CharField()
        turns = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses={200: OutputSerializer}, operation_id="history",
                   parameters=[OpenApiParameter("user_id", str, description="the session (open mode)")],
                   description="The caller's turns, oldest first (question, then answer). jwt mode needs the "
                   "Bearer token; open mode takes ?user_id=.")
    def get(self, request: Request) -> Response:
        user = services.session_validate(user_id=auth.caller_user_id(request, allow_body=False))
        turns = self.TurnOutput(selectors.history_turns(user_id=user.user_id), many=True).data
        return Response({"user_id": user.user_id, "turns": turns})


class TokenRefreshApi(APIView):
    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField(max_length=4096)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        expires_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, operation_id="token_refresh",
                   description="jwt mode: a new access token for a live session (it expires with the session's "
                   "current deadline). Does not extend the session.")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.session_validate(user_id=auth.refresh_user_id(data.validated_data["refresh"]))
        token = auth.access_token(user_id=user.user_id, expires_at=user.expires_at)
        return Response(self.OutputSerializer({"token": token, "expires_at": user.expires_at}).data)
