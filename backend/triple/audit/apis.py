"""Operator endpoints of the audit trail: list, trace, replay, export. Thin: validate, call, format."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from triple.api.auth import IsOperator
from triple.audit import selectors, services
from triple.conversations.models import Chat
from triple.core.errors import InvalidInput

ERROR = OpenApiResponse(description='{"error": code, "message": text}')


class FilterSerializer(serializers.Serializer):
    user_id = serializers.CharField(required=False, max_length=64)
    date_from = serializers.DateField(required=False, help_text="ISO date, inclusive")
    date_to = serializers.DateField(required=False, help_text="ISO date, inclusive")
    provider = serializers.CharField(required=False, max_length=64,
                                     help_text="generation or reasoning provider name")
    status = serializers.ChoiceField(required=False, choices=Chat.Status.values)
    feedback = serializers.ChoiceField(required=False, choices=["up", "down", "none"],
                                       help_text="latest rating: up (+1), down (-1), none")
    route = serializers.CharField(required=False, max_length=16)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise InvalidInput("date_from is after date_to.", code="invalid_date_range")
        return attrs


def _filters(request: Request) -> selectors.ChatFilters:
    data = FilterSerializer(data=request.query_params)
    data.is_valid(raise_exception=True)
    return selectors.ChatFilters(**data.validated_data)


class AuditPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class AuditListApi(APIView):
    permission_classes = [IsOperator]

    class OutputSerializer(serializers.Serializer):
        chat_id = serializers.CharField(source="id")
        user_id = serializers.CharField()
        question = serializers.CharField()
        response = serializers.CharField()
        status = serializers.CharField()
        route = serializers.CharField()
        cached = serializers.BooleanField()
        generation_provider = serializers.CharField()
        generation_model = serializers.CharField()
        created_at = serializers.DateTimeField()
        feedback = serializers.IntegerField(source="latest_rating", allow_null=True)

    class PageSerializer(serializers.Serializer):  # what AuditPagination returns around the rows
        count = serializers.IntegerField()
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = serializers.ListField(child=serializers.DictField())

    @extend_schema(parameters=[FilterSerializer,
                               OpenApiParameter("page", OpenApiTypes.INT),
                               OpenApiParameter("page_size", OpenApiTypes.INT)],
                   responses={200: PageSerializer, 400: ERROR, 401: ERROR, 403: ERROR},
                   operation_id="audit_list")
    def get(self, request: Request) -> Response:
        paginator = AuditPagination()
        page = paginator.paginate_queryset(selectors.chat_list(filters=_filters(request)), request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class AuditTraceApi(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: ERROR}, operation_id="audit_trace",
                   description="The whole trace of one answer; 404 `unknown_chat`.")
    def get(self, request: Request, chat_id: Any) -> Response:
        return Response(selectors.chat_trace(chat=selectors.chat_get(chat_id=chat_id)))


class AuditReplayApi(APIView):
    permission_classes = [IsOperator]

    class InputSerializer(serializers.Serializer):
        reasoning_provider = serializers.CharField(required=False, max_length=32)
        generation_provider = serializers.CharField(required=False, max_length=32)
        use_original_index = serializers.BooleanField(required=False, default=False)

    @extend_schema(request=InputSerializer, responses={200: OpenApiTypes.OBJECT, 404: ERROR, 409: ERROR},
                   operation_id="audit_replay",
                   description="Ask the question again and return `{original, replay, diff}`. 409 "
                   "`index_build_gone` when use_original_index is set and that build's vectors were pruned.")
    def post(self, request: Request, chat_id: Any) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(services.chat_replay(chat_id=chat_id, **data.validated_data))


class AuditExportApi(APIView):
    permission_classes = [IsOperator]
    FORMATS = {"jsonl": ("application/x-ndjson", services.audit_export_jsonl),
               "csv": ("text/csv; charset=utf-8", services.audit_export_csv)}

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # `format` is ours (jsonl|csv), not DRF's renderer override; errors are always JSON.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(parameters=[FilterSerializer, OpenApiParameter("format", OpenApiTypes.STR, enum=["jsonl", "csv"])],
                   responses={(200, "application/x-ndjson"): OpenApiTypes.STR, (200, "text/csv"): OpenApiTypes.STR,
                              400: ERROR},
                   operation_id="audit_export",
                   description="Streams every matching chat (same filters as the list), newest first.")
    def get(self, request: Request) -> StreamingHttpResponse:
        fmt = request.query_params.get("format", "jsonl")
        if fmt not in self.FORMATS:
            raise InvalidInput("format must be jsonl or csv.", code="invalid_format")
        content_type, export = self.FORMATS[fmt]
        response = StreamingHttpResponse(export(filters=_filters(request)), content_type=content_type)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="triple-audit-{stamp}.{fmt}"'
        return response
