"""Coordinators see aggregates only: no message text, no contact id, no row per person
(issue #10, item 9)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from outreach.appointments.models import ServiceRecord
from outreach.container import Container
from outreach.users.models import Role
from tests.appointments import create_contact, create_point
from tests.factories import Chat, auth, create_token


def _no_person_in(body: Any) -> None:
    """Nothing that names or quotes a person, anywhere in the answer."""
    text = str(body)
    for key in ("contact_id", "text", "path", "phone"):
        assert f"'{key}'" not in text, body


async def test_coordinators_count_askers_and_never_read_questions(
    client: httpx.AsyncClient, services: Container
) -> None:
    for i in range(7):
        chat = Chat(client, f"asker{i}")
        await chat.onboard("en", city="hangzhou" if i < 6 else "shenzhen",
                           district="xihu" if i < 6 else "nanshan")
        await chat.send(f"Can I bring my pet rabbit number {i} to the clinic")
    coordinator = auth(await create_token(services, Role.coordinator))
    r = await client.get("/api/v1/questions", headers=coordinator)
    assert r.status_code == 403
    r = await client.get("/api/v1/questions/counts", headers=coordinator)
    assert r.status_code == 200, r.text
    body = r.json()
    _no_person_in(body)
    # Shenzhen has one asker: withheld, and Hangzhou with it (total − Hangzhou = Shenzhen).
    assert body["total"] == 7
    assert {g["key"]: (g["people"], g["suppressed"]) for g in body["groups"]} == {
        "hangzhou": (None, True), "shenzhen": (None, True)}
    body = (await client.get("/api/v1/questions/counts?group_by=language", headers=coordinator)).json()
    assert body["groups"] == [{"key": "en", "people": 7, "suppressed": False}]
    # Health workers, who answer them, still read them.
    worker = auth(await create_token(services, Role.health_worker))
    rows = (await client.get("/api/v1/questions", headers=worker)).json()
    assert len(rows) == 7 and rows[0]["text"].startswith("Can I bring")


async def test_coordinators_count_people_served(client: httpx.AsyncClient, services: Container) -> None:
    point = await create_point(services)
    other = await create_point(services, city="hangzhou", district="xihu")
    assert point.id is not None and other.id is not None
    people = [await create_contact(services, f"served{i}") for i in range(8)]
    async with services.db.session() as session:
        for i, cid in enumerate(people):
            # Six people at Nanshan (one of them twice), two at Xihu.
            at = point.id if i < 6 else other.id
            session.add(ServiceRecord(contact_id=cid, service_type="contraceptives", point_id=at,
                                      date=dt.date(2026, 11, 1 + i)))
        session.add(ServiceRecord(contact_id=people[0], service_type="contraceptives",
                                  point_id=point.id, date=dt.date(2026, 11, 20)))
        session.add(ServiceRecord(contact_id=people[1], service_type="pregnancy_iud_checkup",
                                  point_id=point.id, date=dt.date(2026, 11, 21)))
    coordinator = auth(await create_token(services, Role.coordinator))
    assert (await client.get("/api/v1/service-records", headers=coordinator)).status_code == 403

    async def counts(**params: str) -> dict[str, Any]:
        r = await client.get("/api/v1/service-records/counts", params=params, headers=coordinator)
        assert r.status_code == 200, r.text
        _no_person_in(r.json())
        return r.json()

    body = await counts(group_by="service_type")
    # One person had both services: 8 people, not 9; the one checkup withholds its
    # complement too.
    assert body["total"] == 8
    assert {g["key"]: g["people"] for g in body["groups"]} == {
        "contraceptives": None, "pregnancy_iud_checkup": None}
    body = await counts(group_by="point", service_type="contraceptives", to="2026-11-10")
    assert {g["key"]: g["people"] for g in body["groups"]} == {str(point.id): None, str(other.id): None}
    body = await counts(group_by="city", service_type="contraceptives")
    assert {g["key"]: g["people"] for g in body["groups"]} == {"shenzhen": None, "hangzhou": None}
    assert body["total"] == 8
    body = await counts(group_by="district", **{"from": "2026-11-01", "to": "2026-11-05"})
    assert body["groups"] == [{"key": "shenzhen/nanshan", "people": 5, "suppressed": False}]
