from datetime import UTC, datetime


def utcnow() -> datetime:
    """Aware UTC now: SQLModel's datetime columns reject naive values."""
    return datetime.now(UTC)
