"""The dispatcher: sends due outbox rows through their channel and records what happened.

Claiming marks rows ``sending`` with a lease that names this dispatcher (``owner``). On
PostgreSQL claims use FOR UPDATE SKIP LOCKED, so several processes never take one row.
Every claimed row passes the send policy (``policy``) first: it may go out, wait (quiet
hours, daily cap), expire or be dead-lettered.

Never twice, never lost:

- **Each outcome is recorded as soon as its send finishes** (group commit: the outcomes
  that finished meanwhile share one transaction). At most ``concurrency`` requests are out
  at once and at most twice that many sends are unsettled (out, or their outcome not yet
  committed), so a dispatcher that dies leaves at most ``2 × concurrency`` rows whose
  outcome nobody knows. (Holding the request's own place until the commit kept that to
  ``concurrency`` but cost 30–50% of the dispatch rate: bench/RESULTS.md.)
- **A lease belongs to its dispatcher**: renewed every third of the lease while a batch
  is being worked on, and an outcome is only recorded by the claim that holds the row
  (owner and attempt checked in the UPDATE). A row is not sent once its lease has less
  than half its length left (renewal is failing): it is given back unsent.
- **Before sending again a row whose last outcome is unknown** (``in_doubt``: its worker
  died, or the answer was lost), the provider is asked whether it was sent
  (``Sender.lookup``); a message found there and not already another row's is recorded
  instead of sent. Providers that cannot be asked (Telegram) are sent again, with the
  same idempotency key.

A provider that is down is not every message's failure:

- **Retryable failures back off** (5xx, 429, time-outs, lost connections): exponential
  with jitter from ``rng`` (``backoff``), or the provider's own delay.
- **A failing channel is paused** (a circuit breaker, one per channel in each
  dispatcher): after ``trip_after`` sends in a row fail that way (whichever rows), the
  dispatcher stops claiming for that channel and waits a pause, ``backoff`` of the
  pauses in a row (1–2 s, then up to 4, 8, 16 … ``pause_cap`` s). When it is over it
  claims one row and sends it (the probe); a probe that fails pauses again, longer; any
  answer from the provider (a success, or an error about the message itself) ends the
  pause. Sends of a batch claimed before the pause are put back unsent. So during an
  outage the provider sees a trickle of requests, and **an attempt failed while the
  channel was paused does not count**: nobody is dead-lettered because the provider was
  down, for a minute or for an hour; only failures while it answers others count
  towards ``max_attempts``. (Consequence: a lone message the provider keeps failing,
  with nothing else to send, waits at the longest pause until it expires or other
  messages get through.) For an in-doubt row the "was it sent?" lookup is a request like
  any other: when it fails or times out the row waits (still in doubt), never sent blind.
- **Expiry is checked right before each send**, not only when the row was claimed (a
  batch can wait behind a slow provider): a message whose expiry has passed is recorded
  ``expired`` unsent, and so is one whose retry or pause would end after its expiry.

Time and chance come in from outside: ``clock`` (every "now" it claims, decides and
records with) and ``rng`` (the retry jitter), so a test can fix both.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from collections import Counter, defaultdict
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from outreach.outbound.sender import Failure, Outgoing, SendError, SendResult, Sender
from outreach.contacts.models import ConsentKind
from outreach.db.database import Database
from outreach.db.raw import Raw, json_value
from outreach.errors import DatabaseFull, DatabaseUnavailable
from outreach.outbound.models import INITIATED, OutboxStatus, Purpose, Rank
from outreach.outbound.repository import CLAIM_BATCH, OUTBOX_STATEMENTS
from outreach.outbound.policy import Decision, SendPolicy, Verdict
from outreach.phones import mask
from outreach.timeutil import SYSTEM_CLOCK, Clock, from_driver

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Claimed:
    id: int
    key: str
    contact_id: int
    address: str
    body: str
    purpose: str
    attempts: int
    choices: list[dict[str, Any]]
    opted_out: bool
    expires_at: datetime | None
    timezone: str | None
    topic: str | None = None
    in_doubt: bool = False
    created_at: datetime | None = None


class _Pause:
    """One channel's circuit breaker: how many sends in a row failed as if the provider
    were down, and, once that is ``trip_after``, until when the channel is paused."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.failures = 0  # in a row
        self.times = 0  # pauses in a row: the next one is longer
        self.until: datetime | None = None  # paused until (None: not paused)
        self.probing = False  # a probe's batch is out
        self.reason = ""  # the last failure's


class _Probe:
    """The one send a paused channel's batch may make."""

    def __init__(self, armed: bool) -> None:
        self.armed = armed

    def take(self) -> bool:
        taken, self.armed = self.armed, False
        return taken


class _Lease:
    """How long a batch's claim is known to be held (renewals move it on)."""

    def __init__(self, until: datetime) -> None:
        self.until = until
        self.given_back = 0  # rows given back unsent for want of renewal (logged once)


@dataclass
class _Pending:
    """An outcome waiting to be written, and the send waiting for it."""

    channel: str
    row: Claimed
    outcome: dict[str, Any]
    opt_out: bool
    done: asyncio.Future[None]


def backoff(attempt: int, rng: random.Random, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential with jitter drawn from ``rng``: attempt 1 waits 1–2 s, 2 up to 4 s,
    3 up to 8 s … (≤ cap)."""
    return rng.uniform(base / 2, min(cap, base * 2 ** (attempt - 1)))


class Dispatcher:
    def __init__(
        self,
        db: Database,
        senders: list[Sender],
        *,
        max_attempts: int = 6,
        concurrency: int = 10,
        lease: float = 60.0,
        policy: SendPolicy | None = None,
        loops: int = 2,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        owner: str | None = None,
        trip_after: int = 3,
        pause_cap: float = 30.0,
    ) -> None:
        self.db = db
        self.clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self.rng = rng if rng is not None else random.Random()
        self.dialect = db.name
        self.sql = OUTBOX_STATEMENTS.for_dialect(db.dialect)
        self.policy = policy or SendPolicy()
        # Only channels that are on; a row for a channel that is off waits for it.
        self.senders = {s.channel: s for s in senders if s.enabled}
        self.max_attempts = max_attempts
        # A channel is paused after this many sends in a row fail as in an outage, for
        # at most pause_cap seconds at a time (see the module docstring).
        self.trip_after = trip_after
        self.pause_cap = pause_cap
        self._pauses = {channel: _Pause(channel) for channel in self.senders}
        self.lease = timedelta(seconds=lease)
        self._limit = asyncio.Semaphore(concurrency)
        # Sends out or waiting for their outcome to be committed: what a crash can leave
        # in doubt (see _send).
        self.unsettled_limit = 2 * concurrency
        self._unsettled = asyncio.Semaphore(self.unsettled_limit)
        self._wake = asyncio.Event()
        self.loops = loops
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        # Claimed rows not started when stop() came: given back by stop().
        self._giving_back = False
        self._unsent: list[Claimed] = []
        # Names this dispatcher's leases (renewal, fencing). An identity, not chance:
        # unique per dispatcher, taken from the OS so the jitter's sequence stays the rng's.
        self.owner = owner or secrets.token_hex(8)
        # Outcomes waiting for the writer, and the writer (see _record).
        self._outcomes: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        # Give up writing outcomes this long after stop() (the database is gone).
        self.give_up_after = 30.0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        """Start the drain loops. More than one, so that one batch is sending while the
        next is claimed and the last recorded (a lone loop sent nothing for a third of
        its time); with SKIP LOCKED, or SQLite's single writer, they never share a row."""
        if not self._tasks and self.senders:
            self._stopping = False
            self._tasks = [asyncio.create_task(self._run(), name=f"outbox.dispatch.{i}")
                           for i in range(self.loops)]

    async def stop(self) -> None:
        """Claim nothing more; the sends already out finish and their outcomes are
        recorded; claimed rows not yet started are given back at once (not left to their
        lease running out), so another worker sends them straight away."""
        self._stopping = self._giving_back = True
        self._wake.set()
        tasks, self._tasks = self._tasks, []
        try:
            await asyncio.gather(*tasks)
        finally:
            self._giving_back = False  # a drain_once() called after stop() sends again
        unsent, self._unsent = self._unsent, []
        if unsent:
            try:
                async with self.db.begin() as raw:
                    await raw.many(self.sql["release"], [
                        {"oid": r.id, "owner": self.owner, "claim": r.attempts,
                         "now": self.clock.now()} for r in unsent])
            except Exception as exc:  # noqa: BLE001 - their leases still run out
                log.warning("outbox: %d claimed messages not given back (%s); they are "
                            "taken again when their lease runs out", len(unsent),
                            type(exc).__name__)
                return
            log.info("outbox: stopping; %d claimed messages given back unsent", len(unsent))

    async def _run(self) -> None:
        while not self._stopping:
            try:
                tried = await self.drain_once()
            except (DatabaseFull, DatabaseUnavailable):
                # Said once in the log by the database; claiming waits for it.
                tried = 0
                await asyncio.sleep(1)
            except Exception:  # noqa: BLE001 - the loop must survive a bad batch
                log.exception("outbox.dispatch failed; retrying in 1 s")
                tried = 0
                await asyncio.sleep(1)
            if tried == 0 and not self._stopping:
                # Idle until woken: by the scheduler's outbox.dispatch tick, or at once
                # by a turn that queued replies in this process.
                await self._wake.wait()
                self._wake.clear()

    async def drain_once(self) -> int:
        """Claim what is due on every channel, send it, record the outcomes.

        Returns how many messages were tried."""
        tried = await asyncio.gather(*(self._drain(sender) for sender in self.senders.values()))
        return sum(tried)

    def paused_until(self, channel: str) -> datetime | None:
        """Until when ``channel`` is paused because its provider is failing (None: it is not)."""
        return self._pauses[channel].until

    async def _drain(self, sender: Sender) -> int:
        now = self.clock.now()
        pause = self._pauses[sender.channel]
        if pause.until is not None and (pause.probing or now < pause.until):
            return 0  # paused: nothing is claimed
        probing = pause.until is not None  # the pause is over: one row probes the provider
        pause.probing = probing
        try:
            return await self._drain_batch(sender, now, _Probe(probing))
        finally:
            if probing:
                pause.probing = False

    async def _drain_batch(self, sender: Sender, now: datetime, probe: _Probe) -> int:
        lease = _Lease(now + self.lease)
        async with self.db.begin() as raw:
            rows = await raw.rows(
                self.sql["claim"],
                {"now": now, "lease_until": lease.until, "owner": self.owner,
                 "channel": sender.channel, "batch": 1 if probe.armed else CLAIM_BATCH},
            )
        claimed = [
            Claimed(id=r["id"], key=r["idempotency_key"], contact_id=r["contact_id"],
                    address=r["address"], body=r["body"], purpose=r["purpose"],
                    attempts=r["attempts"], choices=json_value(r["choices"]) or [],
                    opted_out=bool(r["opted_out"]),
                    expires_at=from_driver(r["expires_at"]) if r["expires_at"] is not None else None,
                    timezone=r["timezone"], topic=r["topic"], in_doubt=bool(r["in_doubt"]),
                    created_at=from_driver(r["created_at"]))
            for r in rows
        ]
        if not claimed:
            return 0
        renewing = asyncio.create_task(self._renew(lease), name="outbox.renew")
        try:
            decisions = await self._decide(claimed, now)
            # One person's messages go out one after the other, oldest first (a reply
            # before the menu that follows it); different people's at the same time.
            queues: defaultdict[str, list[int]] = defaultdict(list)
            for i in sorted(range(len(claimed)), key=lambda i: claimed[i].id):
                queues[claimed[i].address].append(i)

            async def in_order(indexes: list[int]) -> None:
                for i in indexes:
                    row, decision = claimed[i], decisions[i]
                    if decision.verdict is Verdict.send:
                        await self._send(sender, row, lease, probe)
                    else:
                        await self._record(sender.channel, row, self._hold(row, decision))

            await asyncio.gather(*(in_order(q) for q in queues.values()))
        finally:
            renewing.cancel()
            with suppress(asyncio.CancelledError):
                await renewing
        return len(claimed)

    async def _renew(self, lease: _Lease) -> None:
        """Keep this dispatcher's leases while a batch is worked on."""
        every = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            until = self.clock.now() + self.lease
            try:
                async with self.db.begin() as raw:
                    await raw.run(self.sql["renew"], {"owner": self.owner, "lease_until": until})
            except Exception as exc:  # noqa: BLE001 - the next renewal may work
                if not isinstance(exc, DatabaseUnavailable):  # that one is logged once
                    log.warning("outbox: cannot renew leases (%s); sends pause when they run low",
                                type(exc).__name__)
                continue
            lease.until = until

    async def _record(self, channel: str, row: Claimed, outcome: tuple[dict[str, Any], bool]) -> None:
        """Record one outcome; returns once it is committed. Outcomes that finish while
        the writer is busy go in its next transaction (group commit)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outcomes.append(_Pending(channel, row, outcome[0], outcome[1], done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="outbox.record")
        await done

    async def _write(self) -> None:
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            await self._commit(batch)
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_result(None)

    async def _commit(self, batch: list[_Pending]) -> None:
        """Write a batch of outcomes. While the database cannot be reached, try again
        (sends wait meanwhile: their places are taken); once stopping, for at most
        ``give_up_after`` seconds."""
        loop = asyncio.get_running_loop()
        delay, give_up_at = 0.05, None
        while True:
            try:
                async with self.db.begin() as raw:
                    await raw.many(self.sql["record"], [p.outcome for p in batch])
                    prompts = []
                    for p in batch:
                        if p.opt_out:
                            await opt_out_everywhere(raw, self.sql, p.row.contact_id, p.channel,
                                                     now=self.clock.now())
                        if p.row.purpose in PROMPTING and p.row.topic and p.outcome["sid"] is not None:
                            prompts.append({"cid": p.row.contact_id,
                                            "prompt": f"{p.row.purpose}:{p.row.topic}"})
                    if prompts:
                        await raw.many(self.sql["prompt"], prompts)
                return
            except Exception as exc:  # noqa: BLE001 - retried; the rows' leases keep them
                if _conflict(exc) and len(batch) > 1:
                    # One outcome names a provider id another row has (two rows took one
                    # message for theirs): write them one by one so the rest get through.
                    for one in batch:
                        await self._commit([one])
                    return
                if _conflict(exc):
                    p = batch[0]
                    log.warning("message %s: provider id %s is another row's; left in doubt",
                                p.row.key, p.outcome["sid"])
                    p.outcome.update(status=OutboxStatus.unknown.value, sid=None, sent_at=None)
                    continue
                if self._stopping:
                    give_up_at = give_up_at or loop.time() + self.give_up_after
                    if loop.time() >= give_up_at:
                        log.error("outbox: %d outcomes not recorded (%s); their rows will be "
                                  "retried as in doubt", len(batch), type(exc).__name__)
                        return
                if not isinstance(exc, DatabaseUnavailable):  # that one is logged once
                    log.warning("outbox: cannot record %d outcomes (%s); retrying in %.2f s",
                                len(batch), type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _decide(self, claimed: list[Claimed], now: datetime) -> list[Decision]:
        """The send policy for each claimed row, in claim order."""
        usage = await self._usage([r for r in claimed if r.purpose in INITIATED], now)
        let_through: Counter[int] = Counter()  # this batch's own, per contact
        decisions: dict[int, Decision] = {}
        for row in sorted(claimed, key=lambda r: r.id):  # older rows go first
            if row.attempts > self.max_attempts:
                # Claimed again and again without an outcome: its sends keep dying.
                decisions[row.id] = Decision(Verdict.dead, reason=(
                    f"gave up after {row.attempts - 1} attempts without an outcome"))
                continue
            tz = self.policy.zone(row.timezone)
            used = 0
            if row.purpose in INITIATED:
                start = self.policy.day_start(now, tz)
                used = let_through[row.contact_id] + sum(
                    1 for oid, sent_at, status in usage.get(row.contact_id, ())
                    if (sent_at is not None and sent_at >= start)
                    # In flight in another worker and older: it counts first.
                    or (sent_at is None and status in _IN_FLIGHT and oid < row.id)
                )
            decision = self.policy.decide(purpose=row.purpose, opted_out=row.opted_out,
                                          expires_at=row.expires_at, now=now, tz=tz,
                                          used_today=used)
            if decision.verdict is Verdict.send and row.purpose in INITIATED:
                let_through[row.contact_id] += 1
            decisions[row.id] = decision
        return [decisions[row.id] for row in claimed]

    async def _usage(
        self, initiated: list[Claimed], now: datetime
    ) -> defaultdict[int, list[tuple[int, datetime | None, str]]]:
        """Per contact: the service's own messages lately (id, sent_at, status)."""
        usage: defaultdict[int, list[tuple[int, datetime | None, str]]] = defaultdict(list)
        if not initiated:
            return usage
        cids = sorted({r.contact_id for r in initiated})
        batch = {r.id for r in initiated}
        async with self.db.begin() as raw:
            rows = await raw.rows(self.sql["usage"], {
                "cids": cids if self.dialect == "postgresql" else json.dumps(cids),
                "since": now - self.policy.lookback,
            })
        for r in rows:
            cid, oid, sent_at, status = r["contact_id"], r["id"], r["sent_at"], r["status"]
            if oid not in batch:  # this batch's rows count as they are let through
                usage[cid].append((oid, from_driver(sent_at) if sent_at is not None else None, status))
        return usage

    def _hold(self, row: Claimed, decision: Decision) -> tuple[dict[str, Any], bool]:
        """A claimed row the policy keeps back: later, never (expired) or dead."""
        if decision.verdict is Verdict.defer:
            # Waiting is not an attempt.
            return self._outcome(row, OutboxStatus.pending, error=decision.reason,
                                 due_at=decision.until, attempts=row.attempts - 1), False
        if decision.verdict is Verdict.expire:
            return self._outcome(row, OutboxStatus.expired, error=decision.reason,
                                 attempts=row.attempts - 1), False
        log.info("message %s dead-lettered: %s", row.key, decision.reason)
        return self._outcome(row, OutboxStatus.dead, error=decision.reason,
                             attempts=row.attempts - 1), False

    async def _send(self, sender: Sender, row: Claimed, lease: _Lease, probe: _Probe) -> None:
        """Send one row (unless the provider says it went out already) and record the
        outcome. Two bounds: ``concurrency`` requests out at once, and twice that many
        sends whose outcome is not committed yet (so the next sends go out while the last
        outcomes are written, and a crash leaves at most that many in doubt). Right
        before the request: a row past its expiry is not sent, nor is one of a channel
        paused meanwhile (unless it is the pause's probe)."""
        pause = self._pauses[sender.channel]
        async with self._unsettled:
            async with self._limit:
                if self._giving_back:
                    self._unsent.append(row)
                    return
                if lease.until - self.clock.now() < self.lease / 2:
                    await self._release(row, lease)
                    return
                is_probe = pause.until is not None and probe.take()
                if (late := self._late(row)) is not None:
                    outcome = self._hold(row, late)
                elif pause.until is not None and not is_probe:
                    outcome = self._wait_out(row, pause)
                else:
                    outcome = await self._attempt(sender, row, pause, is_probe)
            await self._record(sender.channel, row, outcome)

    async def _attempt(self, sender: Sender, row: Claimed, pause: _Pause,
                       is_probe: bool) -> tuple[dict[str, Any], bool]:
        message = Outgoing(key=row.key, address=row.address, body=row.body, choices=row.choices)
        try:
            found = await self._sent_already(sender, row, message) if row.in_doubt else None
            if found is None and (late := self._late(row)) is not None:  # the lookup took its time
                self._answered(pause)
                return self._hold(row, late)
            result: SendResult = found or await sender.send(message)
        except SendError as exc:
            if self._failing(pause, exc, is_probe):
                return self._wait_out(row, pause, exc)
            return self._failed(row, exc)
        self._answered(pause)
        if found is not None:
            log.info("message %s was sent by an earlier attempt (%s): not sent again",
                     row.key, found.sid)
        return self._outcome(row, result.status, sid=result.sid, sent_at=self.clock.now(),
                             segments=result.segments or None), False

    def _late(self, row: Claimed) -> Decision | None:
        """The policy's expiry, asked again now (right before the request)."""
        return self.policy.expiry(row.expires_at, self.clock.now())

    def _failing(self, pause: _Pause, exc: SendError, is_probe: bool) -> bool:
        """Count a failed send towards pausing its channel. True when the channel is
        paused now (the failure is the outage's, not the message's)."""
        if exc.failure not in _OUTAGE:
            self._answered(pause)  # the provider answered: it is up
            return False
        pause.failures += 1
        pause.reason = exc.reason
        if pause.until is not None and not is_probe:
            return True  # out before the pause began: the pause stands as it is
        if pause.until is None and pause.failures < self.trip_after:
            return False
        pause.times += 1
        wait = backoff(pause.times, self.rng, cap=self.pause_cap)
        if exc.delay is not None:  # the provider said how long (Telegram's retry_after)
            wait = max(wait, exc.delay)
        pause.until = self.clock.now() + timedelta(seconds=wait)
        log.warning("%s: %d sends in a row failed (last: %s); channel paused for %.1f s, "
                    "then one send probes it", pause.channel, pause.failures, exc.reason, wait)
        return True

    def _answered(self, pause: _Pause) -> None:
        """The provider answered: a paused channel resumes."""
        pause.failures = 0
        if pause.until is not None:
            log.warning("%s: the provider answers again; channel resumed after %d pauses",
                        pause.channel, pause.times)
            pause.until, pause.times = None, 0
            self.wake()

    def _wait_out(self, row: Claimed, pause: _Pause,
                  exc: SendError | None = None) -> tuple[dict[str, Any], bool]:
        """A row of a paused channel: back to waiting until the pause is over (the probe
        that failed, one pause later, so that the next probe is another row), its attempt
        not counted; expired instead if that is after its expiry."""
        assert pause.until is not None
        now = self.clock.now()
        due = pause.until if exc is None else pause.until + (pause.until - now)
        if exc is not None and exc.delay is not None:
            due = max(due, now + timedelta(seconds=exc.delay))
        reason = exc.reason if exc is not None else f"not sent: {pause.channel} paused ({pause.reason})"
        code = exc.code if exc is not None else None
        if row.expires_at is not None and due >= row.expires_at:
            return self._outcome(row, OutboxStatus.expired, code=code, attempts=row.attempts - 1,
                                 error=f"expired while {pause.channel} was failing: {reason}"), False
        in_doubt = row.in_doubt or (exc is not None and exc.failure is Failure.unknown)
        status = OutboxStatus.unknown if in_doubt else OutboxStatus.pending
        return self._outcome(row, status, error=reason, code=code, due_at=due,
                             attempts=row.attempts - 1), False

    async def _sent_already(self, sender: Sender, row: Claimed, message: Outgoing) -> SendResult | None:
        """The provider's record of this message from an attempt whose outcome is unknown,
        if it has one that is no other row's."""
        try:
            candidates = await sender.lookup(message, row.created_at or self.clock.now())
        except SendError as exc:
            # Still unknown whether it went out: it stays in doubt, and is retried.
            raise SendError(Failure.unknown, f"cannot tell whether it was sent: {exc.reason}",
                            exc.code, exc.delay) from exc
        for candidate in candidates or ():
            async with self.db.begin() as raw:
                if await raw.row(self.sql["known_sid"], {"sid": candidate.sid}) is None:
                    return candidate
        return None

    async def _release(self, row: Claimed, lease: _Lease) -> None:
        lease.given_back += 1
        if lease.given_back == 1:  # once per batch: after an outage it can be all of it
            log.warning("message %s and the rest of its batch given back unsent: their lease "
                        "could not be renewed", row.key)
        async with self.db.begin() as raw:
            await raw.run(self.sql["release"], {"oid": row.id, "owner": self.owner,
                                                "claim": row.attempts, "now": self.clock.now()})

    def _failed(self, row: Claimed, exc: SendError) -> tuple[dict[str, Any], bool]:
        if exc.failure is Failure.opted_out:
            log.info("message to %s refused: recipient opted out (%s)", mask(row.address), exc.code)
            return self._outcome(row, OutboxStatus.dead, error=exc.reason, code=exc.code), True
        if exc.failure is Failure.permanent or row.attempts >= self.max_attempts:
            reason = exc.reason if exc.failure is Failure.permanent else (
                f"gave up after {row.attempts} attempts: {exc.reason}"
            )
            log.warning("message %s dead-lettered: %s", row.key, reason)
            return self._outcome(row, OutboxStatus.dead, error=reason, code=exc.code), False
        wait = exc.delay if exc.delay is not None else backoff(row.attempts, self.rng)
        due = self.clock.now() + timedelta(seconds=wait)
        if row.expires_at is not None and due >= row.expires_at:
            return self._outcome(row, OutboxStatus.expired, code=exc.code, error=(
                f"expired before a retry: {exc.reason}")), False
        retry = OutboxStatus.unknown if exc.failure is Failure.unknown else OutboxStatus.pending
        log.info("message %s: %s; retry %d", row.key, exc.reason, row.attempts)
        return self._outcome(row, retry, error=exc.reason, code=exc.code, due_at=due), False

    def _outcome(
        self,
        row: Claimed,
        status: OutboxStatus,
        *,
        sid: str | None = None,
        sent_at: datetime | None = None,
        error: str | None = None,
        code: int | None = None,
        due_at: datetime | None = None,
        segments: int | None = None,
        attempts: int | None = None,
    ) -> dict[str, Any]:
        return {
            "oid": row.id,
            "owner": self.owner,
            "claim": row.attempts,
            "status": status.value,
            "sid": sid,
            "sent_at": sent_at,
            "due_at": due_at,
            "error": error,
            "code": code,
            "segments": segments,
            "attempts": attempts,
            "now": self.clock.now(),
        }

    async def expire_due(self, raw: Raw) -> int:
        """Mark every waiting row whose expiry has passed (the ``outbox.expire`` job)."""
        return await raw.count(self.sql["expire"], {"now": self.clock.now()})

    async def purge(self, raw: Raw, before: datetime) -> int:
        """Blank the bodies of finished messages last touched before ``before`` (the
        ``outbox.purge`` job): what we told someone about their reproductive health is
        not kept longer than it is useful. Keys and statuses stay."""
        return await raw.count(self.sql["purge"], {"before": before, "now": self.clock.now()})


def _conflict(exc: BaseException) -> bool:
    """A unique constraint refused the write (sqlite3.IntegrityError, asyncpg's
    UniqueViolationError): trying the same write again cannot help."""
    return any(t.__name__ in {"IntegrityError", "UniqueViolationError"} for t in type(exc).__mro__)


# Messages that ask the person something (their choices are numbered).
PROMPTING = frozenset({Purpose.reminder.value, Purpose.follow_up.value})
_IN_FLIGHT = frozenset({OutboxStatus.sending.value, OutboxStatus.unknown.value})
# Failures that look like the provider being down, not like the message's fault.
_OUTAGE = frozenset({Failure.retryable, Failure.unknown})


async def opt_out_everywhere(raw: Raw, sql: dict[str, Any], contact_id: int, channel: str,
                             *, now: datetime | None = None) -> None:
    """The provider says this person opted out: silence on every channel, logged once
    (at ``now``; default the system clock's)."""
    if now is None:
        now = SYSTEM_CLOCK.now()
    changed = await raw.row(sql["opt_out"], {"cid": contact_id, "was": False, "now_out": True, "now": now})
    if changed is not None:
        await raw.run(sql["consent_event"], {"cid": contact_id, "kind": ConsentKind.opted_out.value,
                                             "channel": channel, "now": now})


async def apply_status(db: Database, channel: str, sid: str,
                       status: OutboxStatus, *, code: int | None = None,
                       opted_out: bool = False, clock: Clock | None = None) -> bool:
    """A delivery report, in our words (the provider's adapter translated it): statuses
    only move forward; repeats change nothing. ``opted_out``: the provider refused the
    message because the recipient opted out, so silence them on every channel; ``code``:
    the provider's error code, kept on the row for the record. Stamped with ``clock``'s
    now (default the system clock)."""
    now = (clock if clock is not None else SYSTEM_CLOCK).now()
    return await _record_status(db, OUTBOX_STATEMENTS.for_dialect(db.dialect), channel, sid,
                                status, code=code, opted_out=opted_out, now=now)


async def _record_status(db: Database, sql: dict[str, Any], channel: str, sid: str,
                         status: OutboxStatus, *, code: int | None, opted_out: bool,
                         now: datetime) -> bool:
    async with db.begin() as raw:
        row = await raw.row(sql["status"], {"sid": sid, "rank": Rank[status.name].value,
                                            "status": status.value, "code": code, "now": now})
        if row is not None and opted_out:
            await opt_out_everywhere(raw, sql, int(row["contact_id"]), channel, now=now)
    return row is not None
