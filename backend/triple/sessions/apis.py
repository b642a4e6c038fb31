from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from triple.api.auth import caller_user_id
from triple.sessions import selectors, services


class SessionOutput(serializers.Serializer):
    user_id = serializers.CharField()
    expires_at = serializers.DateTimeField()


class UserCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        user_id = serializers.CharField(required=False, allow_blank=True, max_length=64)

    @extend_schema(request=InputSerializer, responses={200: SessionOutput, 201: SessionOutput}, operation_id="user_create")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_id = data.validated_data.get("user_id")
        if user_id:
            user = services.session_resume(user_id=user_id)
            return Response(SessionOutput(user).data, status=200)
        user = services.user_create()
        return Response(SessionOutput(user).data, status=201)


class ActivityApi(APIView):
    class InputSerializer(serializers.Serializer):
        user_id = serializers.CharField(required=False, max_length=64)

    @extend_schema(request=InputSerializer, responses={200: SessionOutput}, operation_id="activity")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.session_resume(user_id=caller_user_id(request, data.validated_data))
        return Response(SessionOutput(user).data)


class SessionEndApi(APIView):
    class InputSerializer(serializers.Serializer):
        user_id = serializers.CharField(required=False, max_length=64)

    @extend_schema(request=InputSerializer, responses={204: None}, operation_id="session_end")
    def delete(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.session_validate(user_id=caller_user_id(request, data.validated_data))
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

    @extend_schema(responses={200: OutputSerializer}, operation_id="history")
    def get(self, request: Request) -> Response:
        user = services.session_validate(user_id=caller_user_id(request))
        turns = selectors.history_turns(user_id=user.user_id)
        return Response({"user_id": user.user_id, "turns": turns})
