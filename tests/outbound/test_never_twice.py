"""The dispatcher's promises under slow sends, in one process on the real Twilio SDK and
the fake: each outcome recorded when its send finishes, leases renewed while a batch is
worked on and owned (fenced) by the claim that holds them. The processes-and-kills side is
tests/outbound/test_workers.py."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from outreach.outbound.dispatcher import Claimed, Dispatcher
from outreach.outbound.models import OutboxStatus
from tests.fakes.servers import SmsServer
from tests.fakes.twilio import Fault

ALICE, BOB = "+8613900139001", "+8613900139002"
# Slower than a normal send, quicker than the client's 0.5 s timeout: a slow success.
SLOW = Fault.timeout(0.4, accept=True)


async def outbox(s: SmsServer) -> list[dict[str, Any]]:
    async with s.services.db.begin() as uow:
        return [dict(r._mapping) for r in (await uow.execute(text(
            "SELECT * FROM outbox ORDER BY id"))).all()]


async def until(condition: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_each_outcome_is_recorded_when_its_send_finishes(sms_server: SmsServer) -> None:
    """Alice's first send is slow; Bob's finish meanwhile and are in the database before
    Alice's is answered (the batch does not wait for its slowest send)."""
    s = sms_server
    await s.inbound(ALICE, "hello")
    await s.inbound(BOB, "hello")
    s.fake.inject(SLOW)  # the oldest row, Alice's first reply, gets it
    drain = asyncio.create_task(s.services.dispatcher.drain_once())

    async def bob_recorded_alice_in_flight() -> bool:
        rows = await outbox(s)
        bob = [r for r in rows if r["address"] == BOB]
        return all(r["status"] == "queued" for r in bob) and rows[0]["status"] == "sending"

    await until(bob_recorded_alice_in_flight)
    await drain
    assert {r["status"] for r in await outbox(s)} == {"queued"}


async def test_an_outcome_is_recorded_only_by_the_claim_that_holds_the_row(
    sms_server: SmsServer,
) -> None:
    """While Alice's first send is in flight its row is taken over (another worker claimed
    it after the lease ran out): the late answer must not overwrite that claim."""
    s = sms_server
    await s.inbound(ALICE, "hello")
    s.fake.inject(SLOW)
    first = (await outbox(s))[0]["id"]
    drain = asyncio.create_task(s.services.dispatcher.drain_once())

    async def requested() -> bool:
        return len(s.fake.requests) >= 1

    await until(requested)
    async with s.services.db.begin() as uow:
        await uow.execute(text("UPDATE outbox SET lease_owner = 'another', attempts = attempts + 1 "
                               "WHERE id = :id"), {"id": first})
    await drain
    rows = await outbox(s)
    assert rows[0]["status"] == "sending" and rows[0]["lease_owner"] == "another"
    assert rows[0]["provider_sid"] is None
    assert all(r["status"] == "queued" for r in rows[1:])  # the rest were this claim's


async def test_leases_are_renewed_while_a_batch_outlasts_them(sms_server: SmsServer) -> None:
    """A 1 s lease and one person's sends taking 0.4 s each, in order: the batch lasts
    longer than the lease. Renewed, the rows stay this dispatcher's (a second dispatcher
    finds nothing to claim) and every one is sent once."""
    s = sms_server
    for text_ in ("hello", "1", "HELP", "MENU"):
        await s.inbound(ALICE, text_)
    rows = await outbox(s)
    assert len(rows) >= 4  # ≥ 1.6 s of sends
    s.fake.inject(*[SLOW] * len(rows))
    sender = s.services.dispatcher.senders["sms"]
    first = Dispatcher(s.services.db, [sender], lease=1.0)
    second = Dispatcher(s.services.db, [sender], lease=1.0)
    drain = asyncio.create_task(first.drain_once())
    await asyncio.sleep(1.2)  # past the first lease's end, before the batch is done
    assert not drain.done()
    assert await second.drain_once() == 0
    assert await drain == len(rows)
    after = await outbox(s)
    assert {r["status"] for r in after} == {"queued"}
    assert len(s.sent_to(ALICE)) == len(rows)


async def test_a_provider_id_already_recorded_leaves_only_that_row_in_doubt(
    sms_server: SmsServer,
) -> None:
    """Two rows took one provider message for theirs (a lookup race between workers): the
    group commit does not stall on the unique constraint; the other outcomes are written,
    and the row that lost is left in doubt, to be looked up again."""
    s = sms_server
    await s.inbound(ALICE, "hello")
    await s.inbound(BOB, "hello")
    d = s.services.dispatcher
    rows = await outbox(s)
    taken = rows[0]
    async with s.services.db.begin() as uow:
        await uow.execute(text("UPDATE outbox SET provider_sid = 'SMtaken', status = 'queued', "
                               "attempts = 1 WHERE id = :id"), {"id": taken["id"]})
        await uow.execute(text("UPDATE outbox SET status = 'sending', attempts = 1, "
                               "lease_owner = :owner WHERE id != :id"),
                          {"owner": d.owner, "id": taken["id"]})

    def claimed(r: dict[str, Any]) -> Claimed:
        return Claimed(id=r["id"], key=r["idempotency_key"], contact_id=r["contact_id"],
                       address=r["address"], body=r["body"], purpose=r["purpose"], attempts=1,
                       choices=[], opted_out=False, expires_at=None, timezone=None)

    loser, *others = rows[1:]
    batch = [d._outcome(claimed(loser), OutboxStatus.queued, sid="SMtaken")]
    batch += [d._outcome(claimed(r), OutboxStatus.queued, sid=f"SMown{r['id']}") for r in others]
    await asyncio.gather(*(d._record("sms", claimed(r), (o, False))
                           for r, o in zip([loser, *others], batch, strict=True)))
    after = {r["id"]: r for r in await outbox(s)}
    assert after[loser["id"]]["status"] == "unknown" and after[loser["id"]]["provider_sid"] is None
    assert all(after[r["id"]]["status"] == "queued" for r in others)
    assert all(after[r["id"]]["provider_sid"] == f"SMown{r['id']}" for r in others)
