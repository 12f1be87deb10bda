"""The simulator channel: chat with the bot over HTTP as any made-up contact (dev only)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Response

from outreach.api.guard import JsonRoute
from outreach.api.params import INT32_MAX
from pydantic import BaseModel, Field
from sqlalchemy import select

from outreach.contacts.models import ContactUrn
from outreach.conversations.service import Address
from outreach.db.database import Database
from outreach.db.raw import json_value
from outreach.inbound.pipeline import Inbound, Pipeline
from outreach.outbound.models import Outbox, OutboxStatus


class SimulatorMessage(BaseModel):
    contact: str = Field(min_length=1, max_length=128, description="Any id for the pretend migrant.")
    # As long as a Telegram message can be (an SMS is at most 1,600 characters).
    text: str = Field(max_length=4096, description="What the migrant types.")


class ChoiceOut(BaseModel):
    id: str
    label: str


class ReplyOut(BaseModel):
    text: str
    choices: list[ChoiceOut]


class SimulatorReplies(BaseModel):
    replies: list[ReplyOut]


class Delivered(BaseModel):
    id: int
    text: str
    choices: list[ChoiceOut]


class SimulatorOutbox(BaseModel):
    messages: list[Delivered]


def router(pipeline: Pipeline, db: Database) -> APIRouter:
    """The simulator's API, built with what it uses."""
    routes = APIRouter(prefix="/api/v1/simulator", tags=["simulator"], route_class=JsonRoute)

    @routes.post("/messages", response_model=SimulatorReplies)
    async def post_message(message: SimulatorMessage) -> Response:
        """Send a message as ``contact``; a choice can be picked by its number or its label."""
        result = await pipeline.receive(
            Inbound(Address(channel="sim", scheme="sim", path=message.contact), message.text)
        )
        assert result is not None  # no provider id, so never a duplicate
        replies = result.turn.replies
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

    @routes.get("/outbox", response_model=SimulatorOutbox)
    async def fetch_outbox(
        contact: Annotated[str, Query(min_length=1, max_length=128)],
        after: Annotated[int, Query(ge=0, le=INT32_MAX, description="Only messages with a greater id.")] = 0,
    ) -> SimulatorOutbox:
        """What the service sent ``contact`` on its own (reminders, follow-ups), oldest first:
        the page polls this with the last id it showed."""
        o = Outbox.__table__  # type: ignore[attr-defined]
        u = ContactUrn.__table__  # type: ignore[attr-defined]
        async with db.begin() as uow:
            rows = (await uow.execute(
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

    return routes
