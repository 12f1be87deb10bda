from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


def utcnow() -> datetime:
    """Aware UTC now: SQLModel's datetime columns reject naive values."""
    return datetime.now(UTC)


class Clock(Protocol):
    """Where the outbound engine gets the time: the system's in production, a manual one
    in tests (so nothing depends on the hour a test runs at)."""

    def now(self) -> datetime:
        """Aware UTC now."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return utcnow()

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


def _aware_utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a clock needs an aware datetime, not {at!r}")
    return at.astimezone(UTC)


class ManualClock:
    """A clock that stands still until told otherwise (tests)."""

    def __init__(self, at: datetime) -> None:
        self._at = _aware_utc(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> datetime:
        """Jump to ``at`` (backwards too); returns the new now."""
        self._at = _aware_utc(at)
        return self._at

    def advance(self, by: timedelta) -> datetime:
        """Move on by ``by``; returns the new now."""
        if by < timedelta(0):
            raise ValueError(f"advance goes forward, not by {by}; use set() to go back")
        self._at += by
        return self._at

    def __repr__(self) -> str:
        return f"ManualClock({self._at.isoformat()})"


def from_driver(value: Any) -> datetime:
    """A datetime column as a raw driver returns it, as aware UTC: asyncpg gives an aware
    datetime, sqlite3 the UTC text SQLAlchemy stored (naive)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a datetime: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
