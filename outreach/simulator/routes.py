"""The simulator channel: chat with the bot over HTTP as any made-up contact (dev only)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from outreach.contacts.models import ContactUrn
from outreach.conversations.store import json_value
from outreach.messages.models import Outbox, OutboxStatus

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


class Delivered(BaseModel):
    id: int
    text: str
    choices: list[ChoiceOut]


class SimulatorOutbox(BaseModel):
    messages: list[Delivered]


@router.get("/outbox", response_model=SimulatorOutbox)
async def fetch_outbox(
    request: Request,
    contact: Annotated[str, Query(min_length=1, max_length=128)],
    after: Annotated[int, Query(ge=0, description="Only messages with a greater id.")] = 0,
) -> SimulatorOutbox:
    """What the service sent ``contact`` on its own (reminders, follow-ups), oldest first:
    the page polls this with the last id it showed."""
    services: Services = request.app.state.services
    o = Outbox.__table__  # type: ignore[attr-defined]
    u = ContactUrn.__table__  # type: ignore[attr-defined]
    async with services.db.connect() as conn:
        rows = (await conn.execute(
            select(o.c.id, o.c.body, o.c.choices)
            .join(u, u.c.contact_id == o.c.contact_id)
            .where(u.c.scheme == "sim", u.c.path == contact, o.c.channel == "sim",
                   o.c.address == contact, o.c.status == OutboxStatus.delivered.value,
                   o.c.id > after)
            .order_by(o.c.id)
            .limit(50)
        )).all()
    return SimulatorOutbox(messages=[
        Delivered(id=r.id, text=r.body, choices=[ChoiceOut(**c) for c in json_value(r.choices) or []])
        for r in rows
    ])

