from django.apps import AppConfig


class SessionsConfig(AppConfig):
    name = "triple.sessions"
    label = "triple_sessions"
