"""The conversations: one channel-agnostic dialog engine (never imports a channel SDK)."""

from bot.engine import Engine
from bot.contract import Choice, ContactView, DialogState, Reply, Turn

__all__ = ["Choice", "ContactView", "DialogState", "Engine", "Reply", "Turn"]
