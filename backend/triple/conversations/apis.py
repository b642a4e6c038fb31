from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from triple.api.auth import caller_user_id, caller_user_id_optional
from triple.conversations import services
from triple.conversations.feedback import feedback_create


class EventStreamRenderer(BaseRenderer):
    media_type = "text/event-stream"
    format = "sse"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data, ensure_ascii=False).encode()


def absolute_images(request: Request, payload: dict[str, Any]) -> dict[str, Any]:
    """Image paths (relative to the data directory) become URLs the backend serves."""
    def url(path: str) -> str:
        return path if path.startswith(("http://", "https://")) else request.build_absolute_uri(f"/files/{path}")

    if "images" in payload:
        payload["images"] = [url(p) for p in payload["images"]]
    for source in payload.get("sources", []):
        source["image_urls"] = [url(p) for p in source.get("image_urls", [])]
    return payload


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class ChatApi(APIView):
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    class ProvidersInput(serializers.Serializer):
        reasoning = serializers.CharField(required=False, max_length=32)
        generation = serializers.CharField(required=False, max_length=32)

    class InputSerializer(serializers.Serializer):
        user_id = serializers.CharField(required=False, max_length=64)
        question = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
        top_k = serializers.IntegerField(required=False, min_value=1, max_value=services.MAX_TOP_K)
        filters = serializers.DictField(required=False, child=serializers.JSONField())
        providers = serializers.DictField(required=False, child=serializers.CharField(max_length=32))

    class SourceOutput(serializers.Serializer):
        number = serializers.IntegerField()
        chunk_id = serializers.CharField()
        document = serializers.CharField()
        locator = serializers.CharField()
        score = serializers.FloatField()
        retriever = serializers.CharField()
        snippet = serializers.CharField()
        image_urls = serializers.ListField(child=serializers.CharField())
        cited = serializers.BooleanField()

    class OutputSerializer(serializers.Serializer):
        chat_id = serializers.CharField()
        response = serializers.CharField()
        status = serializers.CharField()
        standalone_query = serializers.CharField()
        images = serializers.ListField(child=serializers.URLField())
        sources = serializers.ListField(child=serializers.DictField())
        providers = serializers.DictField()
        timings_ms = serializers.DictField()
        usage = serializers.DictField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer, 400: OpenApiResponse(description="{error, message}")},
        operation_id="chat",
        description="Answer a question. With `Accept: text/event-stream` the answer streams as SSE events "
        "`meta`, `token`, `done` (or `error`).",
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = dict(data.validated_data)
        kwargs: dict[str, Any] = {
            "user_id": caller_user_id(request, args),
            "question": args.get("question"),
            "top_k": args.get("top_k"),
            "filters": args.get("filters"),
            "providers": args.get("providers"),
        }
        _check_provider_roles(kwargs["providers"])
        if "text/event-stream" in request.META.get("HTTP_ACCEPT", ""):
            events = services.answer_question_stream(**kwargs)
            response = StreamingHttpResponse(self._stream(request, events), content_type="text/event-stream")
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"
            return response
        return Response(absolute_images(request, services.answer_question(**kwargs)))

    @staticmethod
    def _stream(request: Request, events: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[bytes]:
        try:
            for event, payload in events:
                yield sse(event, absolute_images(request, payload))
        finally:
            # The server closes this generator when the client goes away; closing the service's generator
            # right away (not whenever it is garbage-collected) records the interrupted answer now.
            close = getattr(events, "close", None)
            if close is not None:
                close()

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response):  # errors are JSON even when the client asked for SSE
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


def _check_provider_roles(providers: dict[str, str] | None) -> None:
    from triple.core.errors import InvalidInput

    for role in providers or {}:
        if role not in ("reasoning", "generation"):
            raise InvalidInput(f"providers may set 'reasoning' and 'generation', not '{role}'.",
                               code="invalid_provider_role")


class FeedbackApi(APIView):
    class InputSerializer(serializers.Serializer):
        chat_id = serializers.UUIDField()
        rating = serializers.ChoiceField(choices=[1, -1])
        comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)
        user_id = serializers.CharField(required=False, max_length=64)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        chat_id = serializers.CharField()
        rating = serializers.IntegerField()
        comment = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer}, operation_id="feedback_create")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = feedback_create(chat_id=data.validated_data["chat_id"], rating=data.validated_data["rating"],
                               comment=data.validated_data.get("comment", ""),
                               user_id=caller_user_id_optional(request, data.validated_data))
        return Response({"id": item.id, "chat_id": str(item.chat_id), "rating": item.rating, "comment": item.comment},
                        status=201)
