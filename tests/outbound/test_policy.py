"""The send policy: quiet hours as properties across time zones and DST changes, the
daily cap, expiry and opt-out."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from outreach.outbound.policy import (
    SendPolicy,
    Verdict,
    first_instant_at,
    parse_quiet_hours,
)

# Zones with spring-forward gaps and fall-back overlaps at different hours, half-hour DST
# (Lord Howe), southern-hemisphere DST, and none at all.
ZONES = [
    "Asia/Shanghai", "Europe/Berlin", "America/New_York", "America/Santiago",
    "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kolkata",
    "America/Sao_Paulo", "Europe/London", "Asia/Tehran", "Pacific/Apia",
]

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)
).map(lambda d: d.replace(tzinfo=UTC))
wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


def local(instant: datetime, tz: ZoneInfo) -> time:
    return instant.astimezone(tz).time().replace(tzinfo=None)


@settings(max_examples=600, deadline=None)
@given(now=instants, zone=st.sampled_from(ZONES), start=wall_times, end=wall_times)
# 2026-03-29 01:30 UTC is 03:30 in Berlin, the night the clocks skip 02:00–03:00.
@example(now=datetime(2026, 3, 29, 0, 30, tzinfo=UTC), zone="Europe/Berlin",
         start=time(21), end=time(2, 30))
# 2026-10-25: Berlin's 02:00–03:00 happens twice.
@example(now=datetime(2026, 10, 25, 0, 15, tzinfo=UTC), zone="Europe/Berlin",
         start=time(21), end=time(2, 30))
@example(now=datetime(2026, 3, 8, 6, 0, tzinfo=UTC), zone="America/New_York",
         start=time(21), end=time(8))
def test_quiet_hours_end_at_the_first_allowed_instant(
    now: datetime, zone: str, start: time, end: time
) -> None:
    if start == end:
        return
    policy = SendPolicy(quiet=(start, end))
    tz = ZoneInfo(zone)
    until = policy.quiet_until(now, tz)
    if not policy.is_quiet(local(now, tz)):
        assert until is None
        return
    assert until is not None
    assert until > now
    # It may go out then …
    assert not policy.is_quiet(local(until, tz))
    # … and not a second earlier: the whole wait is quiet.
    assert policy.is_quiet(local(until - timedelta(seconds=1), tz))
    # Never waits more than a day and a bit (a DST day is at most 25 h; Apia skipped one).
    assert until - now <= timedelta(hours=49)


@settings(max_examples=300, deadline=None)
@given(now=instants, zone=st.sampled_from(ZONES))
def test_a_deferred_message_is_never_due_in_quiet_hours(now: datetime, zone: str) -> None:
    policy = SendPolicy()
    tz = ZoneInfo(zone)
    decision = policy.decide(purpose="reminder", opted_out=False, expires_at=None, now=now,
                             tz=tz, used_today=policy.daily_cap)
    assert decision.verdict is Verdict.defer and decision.until is not None
    assert decision.until > now
    assert not policy.is_quiet(local(decision.until, tz))
    # The cap defers to a later local day.
    assert decision.until.astimezone(tz).date() > now.astimezone(tz).date()


@settings(max_examples=300, deadline=None)
@given(day=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)),
       wall=wall_times, zone=st.sampled_from(ZONES))
def test_first_instant_at_a_wall_time(day: date, wall: time, zone: str) -> None:
    tz = ZoneInfo(zone)
    at = first_instant_at(day, wall, tz)
    shown = at.astimezone(tz)
    assert shown.replace(tzinfo=None) >= datetime.combine(day, wall)
    before = (at - timedelta(seconds=1)).astimezone(tz).replace(tzinfo=None)
    assert before < datetime.combine(day, wall)


def test_quiet_hours_in_the_recipients_zone() -> None:
    policy = SendPolicy()
    now = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai, 10:00 in New York
    shanghai = policy.decide(purpose="campaign", opted_out=False, expires_at=None, now=now,
                             tz=policy.zone("Asia/Shanghai"))
    assert shanghai.verdict is Verdict.defer
    assert shanghai.until == datetime(2026, 6, 2, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    new_york = policy.decide(purpose="campaign", opted_out=False, expires_at=None, now=now,
                             tz=policy.zone("America/New_York"))
    assert new_york.verdict is Verdict.send
    # An unknown zone is the service's.
    assert policy.zone("Mars/Olympus_Mons") == ZoneInfo("Asia/Shanghai")
    assert policy.zone(None) == ZoneInfo("Asia/Shanghai")


def test_replies_are_not_bound_by_quiet_hours_or_the_cap() -> None:
    policy = SendPolicy()
    night = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)  # midnight in Shanghai
    for purpose in ("reply", "opt_out_confirmation"):
        d = policy.decide(purpose=purpose, opted_out=False, expires_at=None, now=night,
                          tz=policy.zone(None), used_today=99)
        assert d.verdict is Verdict.send


def test_opt_out_binds_everything_but_its_confirmation() -> None:
    policy = SendPolicy()
    now = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # noon in Shanghai
    for purpose in ("reply", "reminder", "campaign", "follow_up"):
        d = policy.decide(purpose=purpose, opted_out=True, expires_at=None, now=now,
                          tz=policy.zone(None))
        assert d.verdict is Verdict.dead and d.reason == "recipient has opted out"
    d = policy.decide(purpose="opt_out_confirmation", opted_out=True, expires_at=None,
                      now=now, tz=policy.zone(None))
    assert d.verdict is Verdict.send


def test_expiry() -> None:
    policy = SendPolicy()
    noon = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
    late = policy.decide(purpose="reminder", opted_out=False, expires_at=noon, now=noon,
                         tz=policy.zone(None))
    assert late.verdict is Verdict.expire
    # 22:00 local, the appointment at 07:30 tomorrow: quiet until 08:00 is too late.
    night = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    d = policy.decide(purpose="reminder", opted_out=False, now=night, tz=policy.zone(None),
                      expires_at=datetime(2026, 6, 1, 23, 30, tzinfo=UTC))
    assert d.verdict is Verdict.expire and "quiet hours" in (d.reason or "")
    # Expiry binds replies too.
    d = policy.decide(purpose="reply", opted_out=False, expires_at=noon, now=noon,
                      tz=policy.zone(None))
    assert d.verdict is Verdict.expire


def test_daily_cap() -> None:
    policy = SendPolicy(daily_cap=2)
    noon = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
    tz = policy.zone(None)
    assert policy.decide(purpose="campaign", opted_out=False, expires_at=None, now=noon, tz=tz,
                         used_today=1).verdict is Verdict.send
    capped = policy.decide(purpose="campaign", opted_out=False, expires_at=None, now=noon,
                           tz=tz, used_today=2)
    assert capped.verdict is Verdict.defer and capped.reason == "daily cap reached"
    assert capped.until == datetime(2026, 6, 2, 0, 0, tzinfo=UTC)  # tomorrow 08:00 local


def test_parse_quiet_hours() -> None:
    assert parse_quiet_hours("21:00-08:00") == (time(21), time(8))
    assert parse_quiet_hours(" 22:30 - 07:15 ") == (time(22, 30), time(7, 15))
    assert parse_quiet_hours("off") is None and parse_quiet_hours("") is None
    assert parse_quiet_hours("08:00-08:00") is None
    for bad in ("9pm-8am", "25:00-08:00", "21:00"):
        with pytest.raises(ValueError):
            parse_quiet_hours(bad)
