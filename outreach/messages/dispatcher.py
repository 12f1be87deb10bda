"""The dispatcher: sends due outbox rows through their channel and records what happened.

Claiming marks rows ``sending`` with a lease. A process that dies mid-send leaves its
lease to expire; the row is then treated like a send whose outcome is unknown and is
retried with the same idempotency key, so the provider can recognise the repeat. On
PostgreSQL claims use FOR UPDATE SKIP LOCKED, so several processes never take one row.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from outreach.channels.twilio import Failure, SendError, TwilioChannel
from outreach.contacts.models import ConsentEvent, ConsentKind, Contact
from outreach.messages.models import Outbox, OutboxStatus, Purpose, Rank
from outreach.phones import mask
from outreach.timeutil import utcnow

log = logging.getLogger(__name__)

O = Outbox.__table__  # type: ignore[attr-defined]
C = Contact.__table__  # type: ignore[attr-defined]
E = ConsentEvent.__table__  # type: ignore[attr-defined]

# Twilio's statuses, as ours.
PROVIDER_STATUS = {
    "accepted": OutboxStatus.queued,
    "scheduled": OutboxStatus.queued,
    "queued": OutboxStatus.queued,
    "sending": OutboxStatus.queued,
    "sent": OutboxStatus.sent,
    "delivered": OutboxStatus.delivered,
    "read": OutboxStatus.delivered,
    "undelivered": OutboxStatus.undelivered,
    "failed": OutboxStatus.failed,
    "canceled": OutboxStatus.failed,
}


@dataclass(frozen=True)
class Claimed:
    id: int
    key: str
    contact_id: int
    address: str
    body: str
    purpose: str
    attempts: int
    opted_out: bool


def backoff(attempt: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential with full jitter: attempt 1 waits up to 2 s, 2 up to 4 s, … (≤ cap)."""
    return random.uniform(base / 2, min(cap, base * 2 ** (attempt - 1)))


class Dispatcher:
    def __init__(
        self,
        db: AsyncEngine,
        sms: TwilioChannel,
        *,
        max_attempts: int = 6,
        concurrency: int = 10,
        batch: int = 100,
        lease: float = 60.0,
    ) -> None:
        self.db = db
        self.sms = sms
        self.max_attempts = max_attempts
        self.batch = batch
        self.lease = timedelta(seconds=lease)
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None and self.sms.enabled:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="outbox.dispatch")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.drain_once()
            except Exception:  # noqa: BLE001 - the loop must survive a bad batch
                log.exception("outbox.dispatch failed; retrying in 1 s")
                sent = 0
                await asyncio.sleep(1)
            if sent == 0 and not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                except TimeoutError:
                    pass
                self._wake.clear()

    async def drain_once(self) -> int:
        """Claim what is due, send it, record the outcomes. Returns how many were tried."""
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._send(row) for row in claimed))
        return len(claimed)

    async def _claim(self) -> list[Claimed]:
        now = utcnow()
        due = or_(
            and_(O.c.status.in_([OutboxStatus.pending, OutboxStatus.unknown]), O.c.due_at <= now),
            and_(O.c.status == OutboxStatus.sending, O.c.lease_until < now),
        )
        query = (
            select(O.c.id, O.c.idempotency_key, O.c.contact_id, O.c.address, O.c.body,
                   O.c.purpose, O.c.attempts, C.c.opted_out)
            .join(C, C.c.id == O.c.contact_id)
            .where(due, O.c.channel == "sms")
            .order_by(O.c.due_at, O.c.id)
            .limit(self.batch)
        )
        async with self.db.begin() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(of=O, skip_locked=True)
            rows = (await conn.execute(query)).all()
            if not rows:
                return []
            await conn.execute(
                update(O)
                .where(O.c.id.in_([r.id for r in rows]))
                .values(status=OutboxStatus.sending, lease_until=now + self.lease,
                        attempts=O.c.attempts + 1, updated_at=now)
            )
        return [
            Claimed(r.id, r.idempotency_key, r.contact_id, r.address, r.body, r.purpose,
                    r.attempts + 1, bool(r.opted_out))
            for r in rows
        ]

    async def _send(self, row: Claimed) -> None:
        if row.opted_out and row.purpose != Purpose.opt_out_confirmation:
            await self._finish(row, OutboxStatus.failed, error="recipient has opted out")
            return
        async with self._limit:
            try:
                result = await self.sms.send(row.address, row.body, row.key)
            except SendError as exc:
                await self._failed(row, exc)
                return
        status = PROVIDER_STATUS.get(result.status, OutboxStatus.queued)
        async with self.db.begin() as conn:
            await conn.execute(
                update(O)
                .where(O.c.id == row.id, O.c.status == OutboxStatus.sending)
                .values(status=status, provider_sid=result.sid, sent_at=utcnow(),
                        lease_until=None, error=None, error_code=None, updated_at=utcnow(),
                        **({"segments": result.segments} if result.segments else {}))
            )

    async def _failed(self, row: Claimed, exc: SendError) -> None:
        if exc.failure is Failure.opted_out:
            log.info("sms to %s refused: recipient opted out (21610)", mask(row.address))
            await self._finish(row, OutboxStatus.failed, exc.reason, exc.code)
            await opt_out_everywhere(self.db, row.contact_id, "sms")
            return
        if exc.failure is Failure.permanent or row.attempts >= self.max_attempts:
            reason = exc.reason if exc.failure is Failure.permanent else (
                f"gave up after {row.attempts} attempts: {exc.reason}"
            )
            log.warning("sms %s failed: %s", row.key, reason)
            await self._finish(row, OutboxStatus.failed, reason, exc.code)
            return
        retry = OutboxStatus.unknown if exc.failure is Failure.unknown else OutboxStatus.pending
        log.info("sms %s: %s; retry %d", row.key, exc.reason, row.attempts)
        async with self.db.begin() as conn:
            await conn.execute(
                update(O)
                .where(O.c.id == row.id, O.c.status == OutboxStatus.sending)
                .values(status=retry, due_at=utcnow() + timedelta(seconds=backoff(row.attempts)),
                        lease_until=None, error=exc.reason, error_code=exc.code,
                        updated_at=utcnow())
            )

    async def _finish(
        self, row: Claimed, status: OutboxStatus, error: str | None = None, code: int | None = None
    ) -> None:
        async with self.db.begin() as conn:
            await conn.execute(
                update(O)
                .where(O.c.id == row.id, O.c.status == OutboxStatus.sending)
                .values(status=status, lease_until=None, error=error, error_code=code,
                        updated_at=utcnow())
            )


async def opt_out_everywhere(db: AsyncEngine, contact_id: int, channel: str) -> None:
    """The provider says this person opted out: silence on every channel, logged once."""
    async with db.begin() as conn:
        changed = await conn.execute(
            update(C).where(C.c.id == contact_id, C.c.opted_out.is_(False))
            .values(opted_out=True, updated_at=utcnow())
        )
        if changed.rowcount:
            await conn.execute(
                E.insert().values(contact_id=contact_id, kind=ConsentKind.opted_out,
                                  channel=channel, created_at=utcnow())
            )


async def apply_status(db: AsyncEngine, sid: str, provider_status: str, error_code: int | None) -> bool:
    """A delivery-status callback: statuses only move forward; repeats change nothing."""
    status = PROVIDER_STATUS.get(provider_status)
    if status is None:
        return False
    earlier = [s for s in OutboxStatus if Rank[s.name] < Rank[status.name]]
    async with db.begin() as conn:
        row = (await conn.execute(select(O.c.id, O.c.contact_id).where(O.c.provider_sid == sid))).first()
        if row is None:
            return False
        await conn.execute(
            update(O)
            .where(O.c.id == row.id, O.c.status.in_(earlier))
            .values(status=status, error_code=error_code, updated_at=utcnow())
        )
    if error_code == 21610:
        await opt_out_everywhere(db, row.contact_id, "sms")
    return True
