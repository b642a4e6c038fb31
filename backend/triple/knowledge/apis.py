"""Operator endpoints of the knowledge domain: documents, index builds and their tasks."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from triple.api.auth import IsOperator
from triple.core.errors import InvalidInput, NotFound
from triple.knowledge import documents, selectors, services
from triple.knowledge.models import IndexBuild

MULTIPART_OVERHEAD = 1024 * 1024  # headers and boundaries around the file in a multipart body


def build_payload(build: IndexBuild | None) -> dict[str, Any] | None:
    if build is None:
        return None
    return {
        "id": build.id, "status": build.status, "stage": build.stage, "active": build.active,
        "collection": build.collection, "embedding_provider": build.embedding_provider,
        "embedding_model": build.embedding_model, "reason": build.reason,
        "progress": {"done": build.progress_done, "total": build.progress_total, "stage": build.stage},
        "counts": build.counts, "failures": build.failures, "error": build.error, "task_id": build.task_id,
        "created_at": build.created_at, "started_at": build.started_at, "finished_at": build.finished_at,
        "heartbeat_at": build.heartbeat_at,
    }


FINISHED = {IndexBuild.Status.SUCCEEDED, IndexBuild.Status.UNCHANGED, IndexBuild.Status.FAILED}


def task_payload(build: IndexBuild) -> dict[str, Any]:
    """A task is an index build seen through its task id: its state is the build's status."""
    finished = build.status in FINISHED
    return {
        "task_id": build.task_id, "state": build.status, "build_id": build.id,
        "progress": {"done": build.progress_done, "total": build.progress_total, "stage": build.stage},
        "result": build.counts if finished and build.status != IndexBuild.Status.FAILED else None,
        "error": build.error or None, "failures": build.failures,
    }


class DocumentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    error = serializers.CharField(allow_blank=True)
    rows = serializers.IntegerField()
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()
    indexed_at = serializers.DateTimeField(allow_null=True)


class TaskOutput(serializers.Serializer):
    task_id = serializers.CharField()
    state = serializers.ChoiceField(choices=["queued", "running", "succeeded", "unchanged", "failed"])
    build_id = serializers.IntegerField()
    progress = serializers.DictField()
    result = serializers.DictField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    failures = serializers.ListField(child=serializers.DictField())


class QueuedOutput(serializers.Serializer):
    task_id = serializers.CharField()
    build_id = serializers.IntegerField()


class IndexApi(APIView):
    permission_classes = [IsOperator]

    class OutputSerializer(serializers.Serializer):
        active = serializers.DictField(allow_null=True)
        in_progress = serializers.ListField(child=serializers.DictField())
        builds = serializers.ListField(child=serializers.DictField())

    @extend_schema(responses={200: OutputSerializer}, operation_id="index_status")
    def get(self, request: Request) -> Response:
        return Response({
            "active": build_payload(selectors.active_build()),
            "in_progress": [build_payload(b) for b in selectors.builds_in_progress()],
            "builds": [build_payload(b) for b in selectors.build_list(limit=10)],
        })


class IndexRebuildApi(APIView):
    permission_classes = [IsOperator]

    @extend_schema(request=None, responses={202: QueuedOutput, 409: OpenApiResponse(description="build_in_progress")},
                   operation_id="index_rebuild")
    def post(self, request: Request) -> Response:
        build = services.index_build_queue(reason="api")
        return Response({"task_id": build.task_id, "build_id": build.id}, status=202)


class TaskDetailApi(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: TaskOutput, 404: OpenApiResponse(description="unknown_task")},
                   operation_id="task_detail")
    def get(self, request: Request, task_id: str) -> Response:
        build = selectors.build_by_task(task_id=task_id)
        if build is None:
            raise NotFound(f"No task {task_id!r}.", code="unknown_task")
        return Response(task_payload(build))


class DocumentListCreateApi(APIView):
    permission_classes = [IsOperator]
    parser_classes = [MultiPartParser, JSONParser]  # JSON only so that a body without a file gets 400 missing_file

    class UploadInput(serializers.Serializer):
        file = serializers.FileField()

    class UploadOutput(serializers.Serializer):
        document = DocumentOutput()
        task_id = serializers.CharField()
        build_id = serializers.IntegerField()

    class ListOutput(serializers.Serializer):
        documents = DocumentOutput(many=True)

    @extend_schema(responses={200: ListOutput}, operation_id="document_list")
    def get(self, request: Request) -> Response:
        return Response({"documents": DocumentOutput(selectors.document_list(), many=True).data})

    @extend_schema(request={"multipart/form-data": UploadInput},
                   responses={202: UploadOutput, 400: OpenApiResponse(description="missing_file, invalid_file_name"),
                              409: OpenApiResponse(description="duplicate_document"),
                              413: OpenApiResponse(description="file_too_large"),
                              415: OpenApiResponse(description="unsupported_file_type")},
                   operation_id="document_upload")
    def post(self, request: Request) -> Response:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > documents.max_upload_bytes() + MULTIPART_OVERHEAD:  # refuse before reading the body
            raise documents.FileTooLarge(f"The file is larger than {settings.MAX_UPLOAD_MB} MB.")
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput("Send the document as the multipart field 'file'.", code="missing_file")
        result = documents.document_upload(file_name=upload.name or "", chunks=upload.chunks(), size=upload.size)
        return Response({"document": DocumentOutput(result.document).data, "task_id": result.build.task_id,
                         "build_id": result.build.id}, status=202)


class DocumentDeleteApi(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={202: QueuedOutput, 404: OpenApiResponse(description="unknown_document")},
                   operation_id="document_delete")
    def delete(self, request: Request, document_id: int) -> Response:
        build = documents.document_delete(document_id=document_id)
        return Response({"task_id": build.task_id, "build_id": build.id}, status=202)
