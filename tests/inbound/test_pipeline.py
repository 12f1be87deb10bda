"""The one inbound pipeline, driven directly: dedupe → turn → replies to the outbox, for
a channel that queues its replies and one that returns them."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.contract import Reply
from outreach.container import Container
from outreach.conversations.service import Address
from outreach.inbound.pipeline import Inbound, Pipeline
from outreach.outbound.enqueue import Part

PHONE = Address(channel="sms", scheme="tel", path="+8613900000077")


def numbered(replies: list[Reply]) -> list[Part]:
    """A renderer: one message per reply, numbered."""
    return [Part(f"{i}. {r.text}") for i, r in enumerate(replies, 1)]


@pytest.fixture
def pipeline(services: Container) -> Pipeline:
    woken: list[int] = []
    pipe = Pipeline(services.conversations, services.enqueuer, wake=lambda: woken.append(1))
    pipe.register("sms", numbered)
    pipe.register("sim", None)
    pipe.woken = woken  # type: ignore[attr-defined]
    return pipe


async def outbox(services: Container) -> list[tuple[str, str, str, str]]:
    async with services.db.begin() as uow:
        rows = (await uow.execute(text(
            "SELECT idempotency_key, channel, address, body FROM outbox ORDER BY id"))).all()
    return [tuple(r) for r in rows]


async def test_replies_become_outbox_rows_rendered_by_the_channel(
    services: Container, pipeline: Pipeline
) -> None:
    result = await pipeline.receive(Inbound(PHONE, "hello", provider="twilio", provider_id="SM1"))
    assert result is not None and result.turn.replies
    rows = await outbox(services)
    assert [r[0] for r in rows] == [f"twilio:SM1:{i}" for i in range(len(result.turn.replies))]
    assert all(r[1:3] == ("sms", PHONE.path) for r in rows)
    assert [r[3] for r in rows] == [f"{i}. {r.text}" for i, r in enumerate(result.turn.replies, 1)]
    assert pipeline.woken == [1]  # type: ignore[attr-defined]


async def test_a_redelivered_message_changes_nothing(services: Container, pipeline: Pipeline) -> None:
    assert await pipeline.receive(Inbound(PHONE, "hello", provider="twilio", provider_id="SM2"))
    before = await outbox(services)
    assert await pipeline.receive(Inbound(PHONE, "hello", provider="twilio", provider_id="SM2")) is None
    assert await outbox(services) == before
    assert pipeline.woken == [1]  # type: ignore[attr-defined]


async def test_a_channel_without_a_renderer_gets_its_replies_back(
    services: Container, pipeline: Pipeline
) -> None:
    result = await pipeline.receive(Inbound(Address("sim", "sim", "someone"), "hi"))
    assert result is not None and result.turn.replies
    assert await outbox(services) == []
    assert pipeline.woken == []  # type: ignore[attr-defined]


async def test_a_channel_nobody_registered_is_an_error(pipeline: Pipeline) -> None:
    with pytest.raises(LookupError, match="telegram"):
        await pipeline.receive(Inbound(Address("telegram", "telegram", "1"), "hi"))
    with pytest.raises(ValueError, match="already"):
        pipeline.register("sms", numbered)
