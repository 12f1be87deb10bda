"""Health workers list a point's day and record attendance; records feed the indicators."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlmodel import select

from outreach.appointments.models import ServiceRecord

from outreach.outbound.models import OutboxStatus, Purpose
from outreach.container import Container
from outreach.timeutil import utcnow
from outreach.users.models import Role
from tests.appointments import create_contact, create_point, outbox_rows, store
from tests.factories import auth, create_token


@pytest.fixture
async def worker(services: Container) -> dict[str, str]:
    return auth(await create_token(services, Role.health_worker))


async def book_past(services: Container, contact_id: int, point_id: int, service: str = "contraceptives",
                    index: int = 0) -> tuple[int, datetime]:
    """An appointment that has begun: booked two days ago for a slot since passed, far
    enough ahead then that its 2-hour reminder was scheduled."""
    s = store(services)
    then = utcnow() - timedelta(days=2)
    async with services.db.begin() as raw:
        point = await s.point(raw, point_id)
        assert point is not None
        starts = [t for t in await s.free_places(raw, point, then) if t > then + timedelta(hours=3)][index]
        assert starts < utcnow()
        aid = await s.book(raw, contact_id, point_id, service, starts, then)
    assert aid is not None
    return aid, starts


async def records(services: Container) -> list[ServiceRecord]:
    async with services.db.session() as session:
        return list((await session.exec(select(ServiceRecord))).all())


def attendance(aid: int) -> str:
    return f"/api/v1/appointments/{aid}/attendance"


async def test_attended_writes_one_service_record(
    client: httpx.AsyncClient, services: Container, worker: dict[str, str]
) -> None:
    point = await create_point(services)
    assert point.id is not None
    cid = await create_contact(services, "p", language="zh_Hans")
    aid, starts = await book_past(services, cid, point.id)

    r = await client.post(attendance(aid), json={"outcome": "attended"}, headers=worker)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["contact_id"], body["language"]) == ("attended", cid, "zh_Hans")
    assert datetime.fromisoformat(body["local_start"]).utcoffset() == timedelta(hours=8)
    [record] = await records(services)
    assert body["service_record_id"] == record.id
    assert (record.contact_id, record.service_type, record.point_id, record.appointment_id) == (
        cid, "contraceptives", point.id, aid)
    assert record.date == (starts + timedelta(hours=8)).date()  # the local date in Shanghai

    again = await client.post(attendance(aid), json={"outcome": "attended"}, headers=worker)
    assert again.status_code == 200 and again.json() == body
    assert len(await records(services)) == 1

    r = await client.post(attendance(aid), json={"outcome": "no_show"}, headers=worker)
    assert r.status_code == 409
    assert r.json()["error"] == {
        "code": "conflict",
        "message": f"Appointment {aid} is attended; only a booked appointment can be marked no_show.",
    }
    # The reminders were withdrawn (the 2-hour one was still pending when it was marked).
    reminders = await outbox_rows(services, f"appointment:{aid}")
    assert reminders and all(r.purpose == Purpose.reminder for r in reminders)
    assert {r.status for r in reminders} == {OutboxStatus.cancelled}


async def test_no_show_sends_one_offer_to_rebook(
    client: httpx.AsyncClient, services: Container, worker: dict[str, str]
) -> None:
    point = await create_point(services)
    assert point.id is not None
    cid = await create_contact(services, "p", language="en")
    aid, _ = await book_past(services, cid, point.id)
    before = utcnow()
    for _ in range(2):
        r = await client.post(attendance(aid), json={"outcome": "no_show"}, headers=worker)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "no_show" and r.json()["service_record_id"] is None
    rows = await outbox_rows(services, f"appointment:{aid}")
    follow_ups = [r for r in rows if r.purpose == Purpose.follow_up]
    assert len(follow_ups) == 1
    [offer] = follow_ups
    assert offer.status == OutboxStatus.pending and offer.idempotency_key == f"appointment:{aid}:no_show"
    assert before <= offer.due_at <= utcnow()
    assert offer.expires_at is not None and offer.expires_at - offer.due_at == timedelta(days=7)
    assert offer.body.startswith("We did not see you at Nanshan Family Health Station on ")
    assert offer.choices == [{"id": f"appointment:{aid}:rebook", "label": "Book a new time"}]
    assert all(r.status == OutboxStatus.cancelled for r in rows if r.purpose == Purpose.reminder)
    assert await records(services) == []

    r = await client.post(attendance(aid), json={"outcome": "attended"}, headers=worker)
    assert r.status_code == 409 and "is no_show" in r.json()["error"]["message"]


async def test_attendance_conflicts(client: httpx.AsyncClient, services: Container, worker: dict[str, str]) -> None:
    point = await create_point(services)
    assert point.id is not None
    cid = await create_contact(services, "p")
    s = store(services)
    now = utcnow()
    async with services.db.begin() as raw:
        point_view = await s.point(raw, point.id)
        assert point_view is not None
        starts = list(await s.free_places(raw, point_view, now))[0]
        future = await s.book(raw, cid, point.id, "contraceptives", starts, now)
    assert future is not None
    r = await client.post(attendance(future), json={"outcome": "attended"}, headers=worker)
    assert r.status_code == 409
    assert "attendance can be recorded once it has begun" in r.json()["error"]["message"]

    aid, _ = await book_past(services, cid, point.id, index=1)
    then = utcnow() - timedelta(days=2)
    async with services.db.begin() as raw:
        assert await s.cancel(raw, aid, cid, then)
    r = await client.post(attendance(aid), json={"outcome": "attended"}, headers=worker)
    assert r.status_code == 409 and "is cancelled" in r.json()["error"]["message"]

    r = await client.post(attendance(999), json={"outcome": "attended"}, headers=worker)
    assert r.status_code == 404 and r.json()["error"]["message"] == "No appointment 999."
    r = await client.post(attendance(aid), json={"outcome": "booked"}, headers=worker)
    assert r.status_code == 422 and "outcome" in r.json()["error"]["message"]
    coordinator = auth(await create_token(services, Role.coordinator))
    r = await client.post(attendance(aid), json={"outcome": "attended"}, headers=coordinator)
    assert r.status_code == 403
    assert (await client.post(attendance(aid), json={"outcome": "attended"})).status_code == 401
    assert await records(services) == []


async def test_a_points_day(client: httpx.AsyncClient, services: Container, worker: dict[str, str]) -> None:
    point = await create_point(services)
    other_point = await create_point(services, district="futian")
    assert point.id is not None and other_point.id is not None
    me, you = await create_contact(services, "me", "en"), await create_contact(services, "you", "zh_Hans")
    s = store(services)
    now = datetime(2030, 1, 7, 0, 0, tzinfo=UTC)  # Monday 08:00 in Shanghai
    tuesday = [datetime(2030, 1, 8, h, m, tzinfo=UTC) for h, m in ((0, 0), (0, 0), (3, 30))]
    async with services.db.begin() as raw:
        a1 = await s.book(raw, you, point.id, "pregnancy_iud_checkup", tuesday[2], now)
        a2 = await s.book(raw, me, point.id, "contraceptives", tuesday[0], now)
        a3 = await s.book(raw, you, point.id, "contraceptives", tuesday[1], now)
        await s.book(raw, me, point.id, "contraceptives", tuesday[0] + timedelta(days=1), now)
        await s.book(raw, me, other_point.id, "contraceptives", tuesday[0], now)
        assert a1 and a2 and a3 and await s.cancel(raw, a3, you, now)

    url = f"/api/v1/service-points/{point.id}/appointments"
    r = await client.get(url, params={"day": "2030-01-08"}, headers=worker)
    assert r.status_code == 200, r.text
    day = r.json()
    assert [(a["id"], a["status"], a["language"], a["local_start"]) for a in day] == [
        (a2, "booked", "en", "2030-01-08T08:00:00+08:00"),
        (a3, "cancelled", "zh_Hans", "2030-01-08T08:00:00+08:00"),
        (a1, "booked", "zh_Hans", "2030-01-08T11:30:00+08:00"),
    ]
    assert set(day[0]) == {"id", "point_id", "contact_id", "language", "service_type", "starts_at",
                           "local_start", "status", "confirmed_at", "service_record_id"}
    assert (await client.get(url, params={"day": "2030-01-07"}, headers=worker)).json() == []
    # Without a day: today at the point (nothing booked today).
    assert (await client.get(url, headers=worker)).json() == []
    r = await client.get(url, params={"day": "tuesday"}, headers=worker)
    assert r.status_code == 422


async def test_service_records_listing(client: httpx.AsyncClient, services: Container, worker: dict[str, str]) -> None:
    point = await create_point(services)
    assert point.id is not None
    cids = [await create_contact(services, f"p{i}") for i in range(2)]
    done = []
    for i, cid in enumerate(cids):
        aid, starts = await book_past(services, cid, point.id, index=i)
        r = await client.post(attendance(aid), json={"outcome": "attended"}, headers=worker)
        assert r.status_code == 200
        done.append((aid, (starts + timedelta(hours=8)).date()))
    coordinator = auth(await create_token(services, Role.coordinator))
    # Rows per person are the health workers'; coordinators get counts (/counts).
    assert (await client.get("/api/v1/service-records", headers=coordinator)).status_code == 403
    coordinator = worker
    r = await client.get("/api/v1/service-records", headers=coordinator)
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [(x["appointment_id"], date.fromisoformat(x["date"])) for x in listed] == done
    assert set(listed[0]) == {"id", "contact_id", "service_type", "point_id", "date", "appointment_id",
                              "created_at"}
    first_day = done[0][1]
    r = await client.get("/api/v1/service-records",
                         params={"from": str(first_day + timedelta(days=1))}, headers=coordinator)
    assert [x["appointment_id"] for x in r.json()] == [a for a, d in done if d > first_day]
    r = await client.get("/api/v1/service-records", params={"to": str(first_day - timedelta(days=1)),
                                                            "point_id": point.id}, headers=coordinator)
    assert r.json() == []
    r = await client.get("/api/v1/service-records", params={"point_id": point.id + 1}, headers=coordinator)
    assert r.json() == []
    assert (await client.get("/api/v1/service-records")).status_code == 401
