from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "triple.providers"
    label = "triple_providers"
