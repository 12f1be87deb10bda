"""Parameter types bounded by what the database can hold: an id, offset or cursor beyond
a PostgreSQL ``integer`` (int32) is a 422 here, never an overflow in the driver; a date is
an ISO date, not whatever else the parser would take (``0`` is not 1970-01-01)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BeforeValidator

# The widest id or count any table column holds (PostgreSQL integer).
INT32_MAX = 2**31 - 1

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]

Id = Annotated[int, Path(ge=1, le=INT32_MAX, description="An object's id.")]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX, description="Rows to skip.")]


def query_id(description: str) -> Any:
    """A query parameter that names an object by id."""
    return Query(ge=1, le=INT32_MAX, description=description)


def query_text(description: str, max_length: int = 64) -> Any:
    """A short text filter (a city, district or service type id)."""
    return Query(min_length=1, max_length=max_length, description=description)
