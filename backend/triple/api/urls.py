from django.urls import path

from triple.api.health import HealthApi
from triple.api.throttling import IpRateThrottle, UserRateThrottle
from triple.audit.apis import AuditExportApi, AuditListApi, AuditReplayApi, AuditTraceApi
from triple.conversations.apis import ChatApi, FeedbackApi
from triple.knowledge.apis import DocumentDeleteApi, DocumentListCreateApi, IndexApi, IndexRebuildApi, TaskDetailApi
from triple.providers.apis import ProvidersApi
from triple.sessions.apis import ActivityApi, HistoryApi, SessionEndApi, TokenRefreshApi, UserCreateApi

urlpatterns = [
    path("user/", UserCreateApi.as_view(), name="user"),
    path("activity/", ActivityApi.as_view(), name="activity"),
    path("session/", SessionEndApi.as_view(), name="session"),
    path("token/refresh/", TokenRefreshApi.as_view(), name="token-refresh"),
    # Rate limits (Redis, shared by every process) are attached here so the view stays the conversations' own.
    path("chat/", ChatApi.as_view(throttle_classes=[UserRateThrottle, IpRateThrottle]), name="chat"),
    path("history/", HistoryApi.as_view(), name="history"),
    path("feedback/", FeedbackApi.as_view(), name="feedback"),
    path("providers/", ProvidersApi.as_view(), name="providers"),
    path("documents/", DocumentListCreateApi.as_view(), name="documents"),
    path("documents/<int:document_id>/", DocumentDeleteApi.as_view(), name="document"),
    path("index/", IndexApi.as_view(), name="index"),
    path("index/rebuild/", IndexRebuildApi.as_view(), name="index-rebuild"),
    path("tasks/<str:task_id>/", TaskDetailApi.as_view(), name="task"),
    path("health/", HealthApi.as_view(), name="health"),
    path("audit/", AuditListApi.as_view(), name="audit"),
    path("audit/export/", AuditExportApi.as_view(), name="audit-export"),
    path("audit/<uuid:chat_id>/", AuditTraceApi.as_view(), name="audit-trace"),
    path("audit/<uuid:chat_id>/replay/", AuditReplayApi.as_view(), name="audit-replay"),
]
