"""The Telegram webhook. The secret header is compared (in constant time) before anything
else is looked at; then the update is fed to the aiogram Dispatcher, whose handlers give
each message or button press to ``receiver``: the inbound pipeline stores it
(deduplicated on update_id) and answers it through the outbox.

The route is built with what it uses (``router(...)``), not from a container.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from outreach.api.body import read_capped
from outreach.api.errors import errors
from outreach.api.guard import parse_json
from outreach.conversations.service import Address
from outreach.errors import BadRequest, Forbidden, ServiceUnavailable, UnsupportedMediaType
from outreach.inbound.pipeline import Inbound, Pipeline
from outreach.providers.telegram.adapter import Handler, TelegramChannel, TelegramInput

PROVIDER = "telegram"
# update_id is an integer JSON carries exactly (Telegram ids fit in 52 bits).
MAX_UPDATE_ID = 2**53 - 1

# An Update as the service reads it: only update_id is required of it. Telegram sends
# more, and an update the service cannot read (a message without a chat, say) is not an
# error to Telegram's eyes: it is logged and acknowledged, never redelivered.
UPDATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["update_id"],
    "description": "A Telegram Bot API Update (https://core.telegram.org/bots/api#update). "
                   "The service reads `message` (chat.id, chat.type, from.language_code, "
                   "text) and `callback_query` (id, data, message.chat.id); anything else "
                   "is ignored.",
    "properties": {
        "update_id": {"type": "integer", "minimum": 0, "maximum": MAX_UPDATE_ID},
        "message": {"type": "object", "description": "A message in a chat."},
        "callback_query": {"type": "object", "description": "A press of an inline button."},
    },
}
# The inbox's record that a group or channel was pointed to a private chat (once per chat).
GROUP_PROVIDER = "telegram-group"


def receiver(channel: TelegramChannel, pipeline: Pipeline) -> Handler:
    """What the aiogram handlers call (webhook and polling alike)."""

    async def receive(event: TelegramInput) -> bool:
        """Handle one update; False when this update_id was already handled."""
        if not event.private:
            if await pipeline.first_time(GROUP_PROVIDER, str(event.chat_id)):
                await channel.point_to_private_chat(event.chat_id, event.language_code)
            return True
        result = await pipeline.receive(Inbound(
            Address(channel="telegram", scheme="telegram", path=str(event.chat_id)), event.text,
            provider=PROVIDER, provider_id=str(event.update_id), hint=event.language_code,
            community=event.payload,
        ))
        if result is None:
            return False
        # After the commit: a button press is answered once its reply is safe.
        if event.callback_id:
            await channel.acknowledge(event.chat_id, event.callback_id, event.callback_message_id)
        return True

    return receive


def router(channel: TelegramChannel, handle: Handler, *, max_bytes: int) -> APIRouter:
    routes = APIRouter(prefix="/webhooks", tags=["webhooks"])

    @routes.post(
        "/telegram",
        responses=errors(400, 403, 413, 415, 503),
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": UPDATE_SCHEMA}}}},
    )
    async def telegram_update(request: Request) -> JSONResponse:
        """An update from Telegram's Bot API (setWebhook with a secret token). An update
        the service cannot read (a field it needs is missing) is logged and answered 200,
        so that Telegram does not deliver it again."""
        if not channel.enabled:
            raise ServiceUnavailable(channel.problem or "Telegram channel off")
        if not channel.check_secret(request.headers.get("x-telegram-bot-api-secret-token")):
            raise Forbidden("Missing or wrong X-Telegram-Bot-Api-Secret-Token.")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise UnsupportedMediaType("Telegram updates are JSON (application/json).")
        update = parse_json(await read_capped(request, max_bytes))
        update_id = update.get("update_id") if isinstance(update, dict) else None
        if type(update_id) is not int or not 0 <= update_id <= MAX_UPDATE_ID:
            raise BadRequest("An update needs an update_id: an integer from 0 to 2^53-1.")
        if any(k in update and not isinstance(update[k], dict) for k in ("message", "callback_query")):
            raise BadRequest("message and callback_query are objects.")
        await channel.feed(handle, update)
        return JSONResponse({})

    return routes
