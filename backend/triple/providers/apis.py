from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from triple.api.auth import caller_user_id, caller_user_id_optional
from triple.providers import registry, selection
from triple.sessions import services as sessions


class ProvidersOutput(serializers.Serializer):
    selection = serializers.DictField(child=serializers.CharField())
    defaults = serializers.DictField(child=serializers.CharField())
    embedding = serializers.DictField()
    presets = serializers.DictField()
    providers = serializers.ListField(child=serializers.DictField())


def _payload(chosen: dict[str, str]) -> dict[str, object]:
    embedder_name = registry.default_provider("embedding")
    return {
        "selection": chosen,
        "defaults": selection.defaults(),
        "embedding": {"provider": embedder_name},
        "presets": selection.PRESETS,
        "providers": registry.statuses(),
    }


class ProvidersApi(APIView):
    class InputSerializer(serializers.Serializer):
        user_id = serializers.CharField(required=False, max_length=64)
        reasoning_provider = serializers.CharField(required=False, max_length=32)
        generation_provider = serializers.CharField(required=False, max_length=32)
        preset = serializers.CharField(required=False, max_length=64)

    @extend_schema(responses={200: ProvidersOutput}, operation_id="providers_get",
                   parameters=[OpenApiParameter("user_id", str, description="the session whose choice to show; "
                                                "without it, the defaults")])
    def get(self, request: Request) -> Response:
        user_id = caller_user_id_optional(request)
        if user_id:
            sessions.session_validate(user_id=user_id)
            return Response(_payload(selection.selection_get(user_id=user_id)))
        return Response(_payload(selection.defaults()))

    @extend_schema(request=InputSerializer, responses={200: ProvidersOutput}, operation_id="providers_set")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = sessions.session_validate(user_id=caller_user_id(request, data.validated_data))
        chosen = selection.selection_set(
            user_id=user.user_id,
            reasoning=data.validated_data.get("reasoning_provider"),
            generation=data.validated_data.get("generation_provider"),
            preset=data.validated_data.get("preset"),
        )
        return Response(_payload(chosen))

    @extend_schema(request=InputSerializer, responses={200: ProvidersOutput}, operation_id="providers_reset")
    def delete(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = sessions.session_validate(user_id=caller_user_id(request, data.validated_data))
        return Response(_payload(selection.selection_clear(user_id=user.user_id)))
