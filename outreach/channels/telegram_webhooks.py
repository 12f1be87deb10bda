"""The Telegram webhook. The secret header is compared (in constant time) before anything
else is looked at; then the update is fed to the aiogram Dispatcher, whose handlers store
it (deduplicated on update_id) and answer it through the outbox."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from outreach.api.body import read_capped
from outreach.errors import BadRequest, Forbidden, ServiceUnavailable
from outreach.services import Services

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post("/telegram")
async def telegram_update(request: Request) -> JSONResponse:
    """An update from Telegram's Bot API (setWebhook with a secret token)."""
    services: Services = request.app.state.services
    channel = services.telegram
    if not channel.enabled:
        raise ServiceUnavailable(channel.problem or "Telegram channel off")
    if not channel.check_secret(request.headers.get("x-telegram-bot-api-secret-token")):
        raise Forbidden("Missing or wrong X-Telegram-Bot-Api-Secret-Token.")
    body = await read_capped(request, services.settings.inbound_max_bytes)
    try:
        update = json.loads(body)
    except ValueError as exc:
        raise BadRequest("The update is not JSON.") from exc
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise BadRequest("An update needs an integer update_id.")
    await channel.feed(services.telegram_inbound.receive, update)
    return JSONResponse({})

