from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from triple.knowledge import selectors
from triple.knowledge.models import IndexBuild


def build_payload(build: IndexBuild | None) -> dict[str, Any] | None:
    if build is None:
        return None
    return {
        "id": build.id, "status": build.status, "stage": build.stage, "active": build.active,
        "collection": build.collection, "embedding_provider": build.embedding_provider,
        "embedding_model": build.embedding_model,
        "progress": {"done": build.progress_done, "total": build.progress_total, "stage": build.stage},
        "counts": build.counts, "failures": build.failures, "error": build.error, "task_id": build.task_id,
        "created_at": build.created_at, "started_at": build.started_at, "finished_at": build.finished_at,
    }


class IndexApi(APIView):
    class OutputSerializer(serializers.Serializer):
        active = serializers.DictField(allow_null=True)
        builds = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses={200: OutputSerializer}, operation_id="index_status")
    def get(self, request: Request) -> Response:
        return Response({
            "active": build_payload(selectors.active_build()),
            "builds": [build_payload(b) for b in selectors.build_list(limit=10)],
        })
