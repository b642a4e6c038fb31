from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "triple.audit"
    label = "triple_audit"
