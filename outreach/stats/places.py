"""Places asked for: where people live who found their city or district missing from the
regions list, as they typed it, counted in people. Aggregates only: a place typed by
fewer than ``suppress_below`` people is left out (what someone typed could name them)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from outreach.contacts.models import PlaceAsked


class PlaceCount(BaseModel):
    city: str | None = Field(
        None, max_length=64,
        description="The listed city whose district list lacks the place; null: the city "
                    "itself is not listed.")
    place: str = Field(max_length=64, description="The place's name as people typed it.")
    people: int = Field(ge=0, description="Unique people who typed it (case and spacing "
                                          "folded).")


class PlacesAsked(BaseModel):
    suppress_below: int = Field(ge=1, description="Places typed by fewer people are left out.")
    places: list[PlaceCount] = Field(max_length=1000, description="Most asked first.")


async def places_asked(session: AsyncSession, *, suppress_below: int, limit: int) -> PlacesAsked:
    p = PlaceAsked.__table__.c  # type: ignore[attr-defined]
    people = func.count(p.contact_id.distinct())
    rows = (
        await session.exec(  # type: ignore[call-overload]
            select(p.city, p.key, func.min(p.name), people)
            .group_by(p.city, p.key)
            .having(people >= suppress_below)
            # Cities not in the list (no city) first on both databases.
            .order_by(people.desc(), func.coalesce(p.city, ""), p.key)
            .limit(limit)
        )
    ).all()
    return PlacesAsked(
        suppress_below=suppress_below,
        places=[PlaceCount(city=r[0], place=r[2], people=r[3]) for r in rows],
    )
