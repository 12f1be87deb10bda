"""The one send policy every outbound message goes through (DESIGN.md).

In order: an expired message is never sent late; an opted-out person gets nothing but the
single opt-out confirmation; what the service starts on its own (reminders, follow-ups,
campaigns) waits out quiet hours in the recipient's time zone and stops at a per-person
daily cap. Replies to someone who has just written are bound by neither.

Pure: the dispatcher gives it the facts and records the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from outreach.outbound.models import INITIATED, Purpose
from outreach.settings import parse_quiet_hours

__all__ = ["Decision", "SendPolicy", "Verdict", "first_instant_at", "parse_quiet_hours", "zone"]


class Verdict(StrEnum):
    send = "send"
    defer = "defer"  # not now: pending again until ``until``
    expire = "expire"  # its expiry passed (or would before it may go out)
    dead = "dead"  # never: dead letter with ``reason``


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    until: datetime | None = None
    reason: str | None = None


SEND = Decision(Verdict.send)


@lru_cache(maxsize=512)
def zone(name: str | None, default: str) -> ZoneInfo:
    """The recipient's zone; an unknown or missing one means the service's."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(default)


def first_instant_at(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the local clock shows ``wall`` or later on ``day``.

    Normally just ``day wall`` in ``tz``. In a spring-forward gap that wall time never
    shows: the answer is the moment the clock jumps past it. In a fall-back overlap it is
    the first of the two."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first  # the wall time exists (fold=0 is its first occurrence)
    # A gap: fold=0 lands after the jump and fold=1 before it; the jump lies between.
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = first
    if lo > hi:
        lo, hi = hi, lo
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0) if hi.microsecond else hi


@dataclass(frozen=True)
class SendPolicy:
    quiet: tuple[time, time] | None = (time(21), time(8))
    daily_cap: int = 3
    default_tz: str = "Asia/Shanghai"
    # How far back the daily cap looks (a local day is at most 26 h long).
    lookback: timedelta = field(default=timedelta(hours=27), repr=False)

    def zone(self, name: str | None) -> ZoneInfo:
        return zone(name, self.default_tz)

    def is_quiet(self, local: time) -> bool:
        if self.quiet is None:
            return False
        start, end = self.quiet
        if start < end:
            return start <= local < end
        return local >= start or local < end

    def quiet_until(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """If ``now`` is in the recipient's quiet hours, the instant they end; else None."""
        if self.quiet is None:
            return None
        local = now.astimezone(tz)
        if not self.is_quiet(local.time().replace(tzinfo=None)):
            return None
        end = self.quiet[1]
        day = local.date()
        if local.time().replace(tzinfo=None) >= end:
            day += timedelta(days=1)
        until = first_instant_at(day, end, tz)
        if until <= now:  # a fall-back overlap repeated the quiet hour
            until = first_instant_at(day + timedelta(days=1), end, tz)
        return until

    def allowed_from(self, instant: datetime, tz: ZoneInfo) -> datetime:
        """``instant``, or the end of the quiet hours it falls in."""
        return self.quiet_until(instant, tz) or instant

    def day_start(self, now: datetime, tz: ZoneInfo) -> datetime:
        """When the recipient's current local day began (UTC)."""
        return first_instant_at(now.astimezone(tz).date(), time(0), tz)

    def next_day(self, now: datetime, tz: ZoneInfo) -> datetime:
        """When the recipient's next local day begins, moved past quiet hours."""
        start = first_instant_at(now.astimezone(tz).date() + timedelta(days=1), time(0), tz)
        return self.allowed_from(start, tz)

    @staticmethod
    def expiry(expires_at: datetime | None, now: datetime) -> Decision | None:
        """Expired: the message can no longer go out (asked at claim time, and again by
        the dispatcher right before the request, as a batch can wait long)."""
        if expires_at is not None and now >= expires_at:
            return Decision(Verdict.expire, reason="expired before it could be sent")
        return None

    def decide(
        self,
        *,
        purpose: str,
        opted_out: bool,
        expires_at: datetime | None,
        now: datetime,
        tz: ZoneInfo,
        used_today: int = 0,
    ) -> Decision:
        """What to do with one claimed message. ``used_today``: messages the service
        itself started to this person today (their local day), sent or in flight."""
        if (late := self.expiry(expires_at, now)) is not None:
            return late
        if opted_out and purpose != Purpose.opt_out_confirmation:
            return Decision(Verdict.dead, reason="recipient has opted out")
        if purpose not in INITIATED:
            return SEND
        until: datetime | None
        if used_today >= self.daily_cap:
            until, reason = self.next_day(now, tz), "daily cap reached"
        else:
            until, reason = self.quiet_until(now, tz), "quiet hours"
        if until is None:
            return SEND
        if expires_at is not None and until >= expires_at:
            return Decision(Verdict.expire, reason=f"{reason} last until after it expires")
        return Decision(Verdict.defer, until=until, reason=reason)
