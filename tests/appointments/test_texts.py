"""Reminder and follow-up texts: the person's language, the point's clock."""

from __future__ import annotations

from datetime import UTC, datetime

from content import Library, segments
from outreach.appointments import texts
from outreach.appointments.views import AppointmentStatus, Visit
from outreach.i18n import translator
from outreach.settings import Settings

LOCALES = Settings().locales_dir


def visit(**overrides: object) -> Visit:
    values: dict[str, object] = {
        "id": 42, "contact_id": 7, "language": "en", "point_id": 3,
        "service_type": "pregnancy_iud_checkup",
        "starts_at": datetime(2026, 3, 2, 1, 30, tzinfo=UTC),  # 09:30 in Shanghai
        "status": AppointmentStatus.booked, "confirmed_at": None, "reschedules": 0,
        "point_name": {"zh_Hans": "南山区计生服务站", "en": "Nanshan Family Health Station"},
        "point_address": {"zh_Hans": "南山大道1号", "en": "1 Nanshan Avenue"},
        "timezone": "Asia/Shanghai",
    }
    return Visit(**{**values, **overrides})  # type: ignore[arg-type]


def test_when_is_on_the_points_clock() -> None:
    starts = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    assert texts.when("en", starts, "Asia/Shanghai") == "Monday, March 2, 2026, 9:30 AM"
    assert texts.when("zh_Hans", starts, "Asia/Shanghai") == "2026年3月2日星期一 09:30"
    assert texts.when("en", starts, "Europe/Berlin") == "Monday, March 2, 2026, 2:30 AM"


def test_english_reminder(library: Library) -> None:
    text = texts.reminder_text(translator("en", LOCALES), library, visit())
    assert text.splitlines() == [
        "Reminder: Free IUD & pregnancy check on Monday, March 2, 2026, 9:30 AM.",
        "Where: Nanshan Family Health Station, 1 Nanshan Avenue.",
        "Reply 1 or CONFIRM to confirm, 2 or CHANGE to reschedule, 3 or CANCEL to cancel.",
    ]
    # CLDR's narrow no-break space before "AM" is gone: the SMS stays in GSM-7.
    assert segments(text).encoding == "GSM-7"


def test_chinese_reminder_names_the_point_and_time_in_chinese(library: Library) -> None:
    text = texts.reminder_text(translator("zh_Hans", LOCALES), library, visit(language="zh_Hans"))
    assert "免费查环查孕" in text
    assert "2026年3月2日星期一 09:30" in text
    assert "南山区计生服务站" in text and "南山大道1号" in text
    assert "Nanshan" not in text


def test_reminder_choices_name_the_appointment() -> None:
    choices = texts.reminder_choices(translator("en", LOCALES), visit())
    assert choices == [
        {"id": "appointment:42:confirm", "label": "Confirm"},
        {"id": "appointment:42:change", "label": "Reschedule"},
        {"id": "appointment:42:cancel", "label": "Cancel appointment"},
    ]
    assert [texts.parse_choice(c["id"]) for c in choices] == [
        (42, "confirm"), (42, "change"), (42, "cancel")
    ]
    assert texts.parse_choice("appointment:42:rebook") == (42, "rebook")
    for other in ("confirm", "appointment:x:confirm", "appointment:42:dance", "menu"):
        assert texts.parse_choice(other) is None


def test_no_show_offers_to_rebook(library: Library) -> None:
    tr = translator("en", LOCALES)
    assert texts.no_show_text(tr, library, visit()).splitlines() == [
        "We did not see you at Nanshan Family Health Station on Monday, March 2, 2026, 9:30 AM"
        " - no problem, it happens.",
        "Would you like a new time for: Free IUD & pregnancy check? Reply BOOK to choose one.",
    ]
    zh = texts.no_show_text(translator("zh_Hans", LOCALES), library, visit())
    assert "没关系" in zh and "没有按时" not in zh  # no blame, in either language
    assert texts.no_show_choices(tr, visit()) == [
        {"id": "appointment:42:rebook", "label": "Book a new time"}
    ]


def test_summary_and_unknown_service_type(library: Library) -> None:
    tr = translator("en", LOCALES)
    assert texts.summary(tr, library, visit()) == (
        "Free IUD & pregnancy check: Monday, March 2, 2026, 9:30 AM, Nanshan Family Health Station"
    )
    # A service type the content no longer has is named by its id rather than crashing.
    assert texts.summary(tr, library, visit(service_type="retired")).startswith("retired: ")
