"""The simulator channel: chat with the bot over HTTP as any made-up contact (dev only)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from outreach.services import Services
from outreach.conversations.service import Address

router = APIRouter(prefix="/api/v1/simulator", tags=["simulator"])


class SimulatorMessage(BaseModel):
    contact: str = Field(min_length=1, max_length=128, description="Any id for the pretend migrant.")
    text: str = Field(max_length=20_000, description="What the migrant types.")


class ChoiceOut(BaseModel):
    id: str
    label: str


class ReplyOut(BaseModel):
    text: str
    choices: list[ChoiceOut]


class SimulatorReplies(BaseModel):
    replies: list[ReplyOut]


@router.post("/messages", response_model=SimulatorReplies)
async def post_message(message: SimulatorMessage, request: Request) -> Response:
    """Send a message as ``contact``; a choice can be picked by its number or its label."""
    services: Services = request.app.state.services  # no dependency: this is the hot path
    replies = await services.conversations.handle(
        Address(channel="sim", scheme="sim", path=message.contact), message.text
    )
    # Serialised directly: re-validating our own dataclasses through the response model
    # cost more than the whole database transaction (the shape is the same).
    body = {
        "replies": [
            {"text": r.text, "choices": [{"id": c.id, "label": c.label} for c in r.choices]}
            for r in replies
        ]
    }
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        media_type="application/json",
    )
