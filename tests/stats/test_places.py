"""Places asked for: people who live somewhere the regions list lacks, as aggregates."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from outreach.contacts.models import Consent, Contact, PlaceAsked
from outreach.container import Container
from outreach.users.models import Role
from tests.factories import Chat, auth, create_token


async def seed(services: Container, typed: list[tuple[str | None, str]]) -> None:
    """One person per (city, name) typed."""
    async with services.db.session() as session:
        for city, name in typed:
            contact = Contact(language="en", consent=Consent.granted, city=city or "elsewhere",
                              district="elsewhere")
            session.add(contact)
            await session.flush()
            session.add(PlaceAsked(contact_id=contact.id, city=city, name=name,
                                   key=" ".join(name.casefold().split())))
        await session.commit()


async def test_places_asked_counts_people_and_hides_small_counts(
    client: httpx.AsyncClient, services: Container
) -> None:
    await seed(services, [(None, "Chengdu")] * 4 + [(None, "chengdu "), (None, "CHENGDU")]
               + [(None, "Kunming")] * 4 + [("shenzhen", "Longhua")] * 5)
    # And one person through the chat.
    chat = Chat(client, "places-1")
    await chat.send("hi")
    await chat.pick("lang:en")
    await chat.pick("consent:yes")
    await chat.pick("city:elsewhere")
    await chat.send("Kunming")
    token = await create_token(services, Role.coordinator)
    r = await client.get("/api/v1/stats/places-asked", headers=auth(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["suppress_below"] == 5
    assert body["places"] == [
        {"city": None, "place": "CHENGDU", "people": 6},
        {"city": None, "place": "Kunming", "people": 5},
        {"city": "shenzhen", "place": "Longhua", "people": 5},
    ]
    # Kunming has five people only with the one from the chat: with four it is left out.
    async with services.db.begin() as conn:
        await conn.execute(text("DELETE FROM contact WHERE id = (SELECT min(contact_id) "
                                "FROM place_asked WHERE key = 'kunming')"))
    r = await client.get("/api/v1/stats/places-asked", headers=auth(token))
    assert [p["place"] for p in r.json()["places"]] == ["CHENGDU", "Longhua"]
    r = await client.get("/api/v1/stats/places-asked", params={"limit": 1}, headers=auth(token))
    assert [p["place"] for p in r.json()["places"]] == ["CHENGDU"]


async def test_places_asked_is_for_coordinators(client: httpx.AsyncClient, services: Container) -> None:
    r = await client.get("/api/v1/stats/places-asked")
    assert r.status_code == 401
    token = await create_token(services, Role.health_worker)
    r = await client.get("/api/v1/stats/places-asked", headers=auth(token))
    assert r.status_code == 403
    token = await create_token(services, Role.coordinator, name="C")
    r = await client.get("/api/v1/stats/places-asked", params={"limit": 0}, headers=auth(token))
    assert r.status_code == 422
