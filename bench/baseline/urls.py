from django.urls import path

from bench.baseline.views import chat

urlpatterns = [path("chat/", chat)]
