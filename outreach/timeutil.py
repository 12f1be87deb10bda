from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    """Aware UTC now: SQLModel's datetime columns reject naive values."""
    return datetime.now(UTC)


def from_driver(value: Any) -> datetime:
    """A datetime column as a raw driver returns it, as aware UTC: asyncpg gives an aware
    datetime, sqlite3 the UTC text SQLAlchemy stored (naive)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a datetime: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
