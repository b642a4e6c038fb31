"""Feedback on answers."""
from __future__ import annotations

import uuid

from triple.conversations.models import Chat, Feedback
from triple.core.errors import Forbidden, NotFound


def feedback_create(*, chat_id: uuid.UUID, rating: int, comment: str = "", user_id: str | None = None) -> Feedback:
    """Record a thumbs up (+1) or down (-1). When a user id is given it must own the chat."""
    chat = Chat.objects.filter(id=chat_id).first()
    if chat is None:
        raise NotFound("No chat with this id.", code="unknown_chat")
    if user_id and chat.user_id != user_id:
        raise Forbidden("This chat belongs to another session.", code="not_your_chat")
    return Feedback.objects.create(chat=chat, rating=rating, comment=comment.strip())
