from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from triple.api.files import data_file
from triple.core.metrics import metrics_view

urlpatterns = [
    path("api/v1/triple/", include("triple.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("files/<path:path>", data_file, name="data-file"),
    path("metrics", metrics_view, name="metrics"),
]

handler400 = "triple.api.errors.bad_request_view"
handler500 = "triple.api.errors.server_error_view"
