"""Factories shared by the appointment tests."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from outreach.appointments.models import ServicePoint

from outreach.appointments.service import AppointmentService
from outreach.contacts.models import Consent, Contact, ContactUrn

from outreach.outbound.models import Outbox
from outreach.container import Container

EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def point_body(**overrides: Any) -> dict[str, Any]:
    """A valid create request: Nanshan, Shenzhen, open 08:00-12:00 every day."""
    body: dict[str, Any] = {
        "name": {"zh_Hans": "南山区计生服务站", "en": "Nanshan Family Health Station"},
        "address": {"zh_Hans": "南山大道1号", "en": "1 Nanshan Avenue"},
        "city": "shenzhen",
        "district": "nanshan",
        "timezone": "Asia/Shanghai",
        "opening_hours": {day: [["08:00", "12:00"]] for day in EVERY_DAY},
        "services": ["pregnancy_iud_checkup", "contraceptives"],
        "slot_minutes": 30,
        "slot_capacity": 3,
    }
    return {**body, **overrides}


async def create_point(svc: Container, **overrides: Any) -> ServicePoint:
    async with svc.db.session() as session:
        point = ServicePoint.model_validate(point_body(**overrides))
        session.add(point)
        await session.flush()
        await session.refresh(point)
    return point


async def create_contact(services: Container, path: str, language: str | None = "en") -> int:
    """A consenting contact who last wrote on the simulator (where reminders go)."""
    async with services.db.session() as session:
        contact = Contact(language=language, consent=Consent.granted, city="shenzhen",
                          district="nanshan", last_channel="sim")
        session.add(contact)
        await session.flush()
        assert contact.id is not None
        session.add(ContactUrn(contact_id=contact.id, scheme="sim", path=path))
        return contact.id


def store(services: Container) -> AppointmentService:
    return services.appointments


async def outbox_rows(services: Container, topic: str) -> list[Outbox]:
    async with services.db.session() as session:
        return list(
            (await session.exec(select(Outbox).where(Outbox.topic == topic).order_by(col(Outbox.id)))).all()
        )
