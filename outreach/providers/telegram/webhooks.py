"""The Telegram webhook. The secret header is compared (in constant time) before anything
else is looked at; then the update is fed to the aiogram Dispatcher, whose handlers give
each message or button press to ``receiver``: the inbound pipeline stores it
(deduplicated on update_id) and answers it through the outbox.

The route is built with what it uses (``router(...)``), not from a container.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from outreach.api.body import read_capped
from outreach.conversations.service import Address
from outreach.errors import BadRequest, Forbidden, ServiceUnavailable
from outreach.inbound.pipeline import Inbound, Pipeline
from outreach.providers.telegram.adapter import Handler, TelegramChannel, TelegramInput

PROVIDER = "telegram"
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

    @routes.post("/telegram")
    async def telegram_update(request: Request) -> JSONResponse:
        """An update from Telegram's Bot API (setWebhook with a secret token)."""
        if not channel.enabled:
            raise ServiceUnavailable(channel.problem or "Telegram channel off")
        if not channel.check_secret(request.headers.get("x-telegram-bot-api-secret-token")):
            raise Forbidden("Missing or wrong X-Telegram-Bot-Api-Secret-Token.")
        body = await read_capped(request, max_bytes)
        try:
            update = json.loads(body)
        except ValueError as exc:
            raise BadRequest("The update is not JSON.") from exc
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            raise BadRequest("An update needs an integer update_id.")
        await channel.feed(handle, update)
        return JSONResponse({})

    return routes
