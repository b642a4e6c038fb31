from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "triple.api"
    label = "triple_api"
