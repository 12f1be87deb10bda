"""A turn's replies as Telegram messages.

They become one Telegram message, its buttons those of the last reply that has any: one
message per turn keeps within Telegram's one-message-a-second-per-chat limit and reads
naturally.
"""

from __future__ import annotations

from bot.contract import Reply
from outreach.outbound.enqueue import Part
from outreach.providers.telegram.adapter import MAX_TEXT


def merge(replies: list[Reply]) -> tuple[str, list[dict[str, str]]]:
    text = "\n\n".join(r.text for r in replies if r.text)
    with_choices = [r for r in replies if r.choices]
    choices = [{"id": c.id, "label": c.label} for c in with_choices[-1].choices] if with_choices else []
    return text, choices


def chunks(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Telegram takes 4096 characters a message; longer text goes in several, cut at lines."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*parts, text] if text else parts


def render(replies: list[Reply]) -> list[Part]:
    """A turn as Telegram messages: one (cut at 4096 characters), with the buttons of the
    last reply that has any on its last piece, under the question they answer."""
    text, choices = merge(replies)
    pieces = chunks(text)
    return [Part(piece, choices if i == len(pieces) - 1 and choices else None)
            for i, piece in enumerate(pieces)]
