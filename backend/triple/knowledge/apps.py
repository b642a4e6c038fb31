from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "triple.knowledge"
    label = "triple_knowledge"
