from django.urls import path

from triple.api.health import HealthApi
from triple.audit.apis import AuditExportApi, AuditListApi, AuditReplayApi, AuditTraceApi
from triple.api.throttling import IpRateThrottle, UserRateThrottle
from triple.conversations.apis import ChatApi, FeedbackApi
from triple.knowledge.apis import IndexApi
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
    path("index/", IndexApi.as_view(), name="index"),
    path("health/", HealthApi.as_view(), name="health"),
    path("audit/", AuditListApi.as_view(), name="audit"),
    path("audit/export/", AuditExportApi.as_view(), name="audit-export"),
    path("audit/<uuid:chat_id>/", AuditTraceApi.as_view(), name="audit-trace"),
    path("audit/<uuid:chat_id>/replay/", AuditReplayApi.as_view(), name="audit-replay"),
]
