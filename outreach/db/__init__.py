"""The data layer: one ``Database`` per database (its engine, its one pool, its units of
work: the only place that commits), the fast statement path the hot repositories use
(``raw``), and a plain engine for migrations and tools (``engine``)."""

from outreach.db.database import Database
from outreach.db.engine import create_engine

__all__ = ["Database", "create_engine"]
