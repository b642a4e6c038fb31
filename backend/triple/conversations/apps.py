from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "triple.conversations"
    label = "triple_conversations"
