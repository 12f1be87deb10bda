"""The background half of the service: the outbox dispatcher and the recurring jobs.

The outbox is the truth (DESIGN.md). APScheduler holds no job state worth keeping: its
jobs live in memory, are added with explicit ids at start, and only *tick* — wake the
dispatcher, expire what can no longer go out in time, purge old message bodies. So any
process can stop at any moment and a new one picks up where it left off.

- ``outbox.dispatch`` runs in every worker: each claims due rows with a lease (SKIP
  LOCKED on PostgreSQL), so several workers share the load and never take one row twice.
- Jobs that must run once per tick across all workers (``outbox.expire``,
  ``outbox.purge``) run inside a transaction holding a PostgreSQL advisory lock; a
  worker that does not get the lock skips that tick. On SQLite one process does it all.

``outreach worker`` runs this without the web server; ``outreach serve`` runs it too
unless ``OUTREACH_SERVE_RUNS_WORKER=false``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from outreach.db.database import Database
from outreach.db.raw import Raw
from outreach.errors import DatabaseFull, DatabaseUnavailable
from outreach.outbound.dispatcher import Dispatcher
from outreach.timeutil import Clock

log = logging.getLogger(__name__)
# A line per tick (every second) would drown the log; APScheduler's warnings still show.
for _name in ("apscheduler.executors.default", "apscheduler.scheduler"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class Worker:
    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher,
        *,
        tick: float = 1.0,
        retention: timedelta = timedelta(days=30),
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.dispatcher = dispatcher
        self._clock = clock
        self.tick = tick
        self.retention = retention
        self.scheduler: AsyncIOScheduler | None = None

    @property
    def clock(self) -> Clock:
        """What the jobs reckon time by (the purge cutoff): the one given, else the
        dispatcher's, so the cutoff and the stamps the dispatcher writes agree."""
        return self._clock if self._clock is not None else self.dispatcher.clock

    @clock.setter
    def clock(self, clock: Clock | None) -> None:
        self._clock = clock

    async def start(self) -> None:
        """Start sending and the recurring jobs (inside the running event loop)."""
        if self.scheduler is not None:
            return
        self.dispatcher.start()
        scheduler = AsyncIOScheduler(timezone=UTC)
        # Every job: one instance at a time; after a stall run once, not once per missed
        # tick (coalesce); a tick later than its grace is skipped: the next one comes soon
        # and the outbox, not the tick, says what is due.
        scheduler.add_job(
            self.dispatcher.wake, "interval", seconds=self.tick, id="outbox.dispatch",
            name="outbox.dispatch", coalesce=True, max_instances=1,
            misfire_grace_time=max(1, int(self.tick)),
        )
        scheduler.add_job(
            self.run_once, "interval", args=["outbox.expire", self.dispatcher.expire_due], seconds=30,
            id="outbox.expire", name="outbox.expire", coalesce=True, max_instances=1,
            misfire_grace_time=30,
        )
        scheduler.add_job(
            self.run_once, "interval", args=["outbox.purge", self._purge], hours=1,
            id="outbox.purge", name="outbox.purge", coalesce=True, max_instances=1,
            misfire_grace_time=600,
        )
        scheduler.start()
        self.scheduler = scheduler
        log.info("worker started: outbox.dispatch every %.1f s, outbox.expire, outbox.purge",
                 self.tick)

    async def stop(self) -> None:
        """Stop ticking, then let the dispatcher record the batch in flight."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        await self.dispatcher.stop()

    async def run_once(self, job: str, work: Callable[[Raw], Awaitable[int]]) -> int | None:
        """Run ``work`` in a transaction holding the job's lock, or skip if another
        worker holds it. Returns what the work returned (None when skipped)."""
        try:
            async with self.db.begin() as raw:
                if not await raw.try_lock(f"job:{job}"):
                    return None
                done = await work(raw)
        except (DatabaseFull, DatabaseUnavailable):  # said once in the log by the database
            return None  # the next tick tries again
        except Exception:  # noqa: BLE001 - a failed tick must not stop the scheduler
            log.exception("%s failed; it runs again at its next tick", job)
            return None
        if done:
            log.info("%s: %d rows", job, done)
        return done

    async def _purge(self, raw: Raw) -> int:
        return await self.dispatcher.purge(raw, self.clock.now() - self.retention)
