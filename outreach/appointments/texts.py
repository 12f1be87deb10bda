"""What the service says about an appointment on its own initiative (reminders, the
offer to rebook after a missed visit), in the person's language.

Times are given on the point's clock: that is where the person has to be. SMS has no
buttons, so the text itself says what to reply; Telegram also gets the choices as
buttons. A choice id names the appointment (``appointment:<id>:confirm``), so a tap
on an old reminder acts on the right visit even when the person has several.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, get_datetime_format

from content import Library
from content.models import text
from outreach.appointments.views import Visit
from outreach.i18n import SUPPORTED_LOCALES, Translator

# What a reminder's choices do; the last part of their ids.
REMINDER_ACTIONS: tuple[str, ...] = ("confirm", "change", "cancel")
REBOOK = "rebook"
_PLAIN_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " "})


def choice_id(appointment_id: int, action: str) -> str:
    return f"appointment:{appointment_id}:{action}"


def parse_choice(value: str) -> tuple[int, str] | None:
    """``appointment:<id>:<action>`` back into (id, action); None for anything else."""
    parts = value.split(":")
    if len(parts) != 3 or parts[0] != "appointment" or not parts[1].isdigit():
        return None
    if parts[2] not in (*REMINDER_ACTIONS, REBOOK):
        return None
    return int(parts[1]), parts[2]


def when(locale: str, starts_at: datetime, timezone: str) -> str:
    """Date and time on the point's clock, as the locale writes them
    ("Monday, March 2, 2026, 9:30 AM"; "2026年3月2日星期一 09:30")."""
    local = starts_at.astimezone(ZoneInfo(timezone))
    pattern = str(get_datetime_format("medium", locale=locale)).replace("'", "")
    formatted = pattern.replace("{0}", format_time(local, "short", locale=locale)).replace(
        "{1}", format_date(local, "full", locale=locale)
    )
    return plain(formatted)


def plain(formatted: str) -> str:
    """CLDR puts a narrow no-break space before "AM" (and no-break spaces elsewhere):
    outside the GSM alphabet, one alone would turn an English SMS into UCS-2 and more
    than double its segments."""
    return formatted.translate(_PLAIN_SPACES)


def service_title(library: Library, service_type: str, locale: str) -> str:
    """The service's name in the locale; its id if the content no longer has it."""
    try:
        return library.t(library.service_type(service_type).title, locale)
    except KeyError:
        return service_type


def _where(visit: Visit, locale: str) -> tuple[str, str]:
    return (
        text(visit.point_name, locale, SUPPORTED_LOCALES),
        text(visit.point_address, locale, SUPPORTED_LOCALES),
    )


def summary(tr: Translator, library: Library, visit: Visit) -> str:
    """One line per appointment, e.g. for "My appointments"."""
    _ = tr.gettext
    point, _address = _where(visit, tr.locale)
    return _("{service}: {when}, {point}").format(
        service=service_title(library, visit.service_type, tr.locale),
        when=when(tr.locale, visit.starts_at, visit.timezone),
        point=point,
    )


def reminder_text(tr: Translator, library: Library, visit: Visit) -> str:
    _ = tr.gettext
    point, address = _where(visit, tr.locale)
    return "\n".join((
        _("Reminder: {service} on {when}.").format(
            service=service_title(library, visit.service_type, tr.locale),
            when=when(tr.locale, visit.starts_at, visit.timezone),
        ),
        _("Where: {point}, {address}.").format(point=point, address=address),
        _("Reply 1 or CONFIRM to confirm, 2 or CHANGE to reschedule, 3 or CANCEL to cancel."),
    ))


def reminder_choices(tr: Translator, visit: Visit) -> list[dict[str, str]]:
    """Buttons in the order the text numbers them (1 confirm, 2 change, 3 cancel)."""
    _ = tr.gettext
    labels = (_("Confirm"), _("Reschedule"), _("Cancel appointment"))
    return [
        {"id": choice_id(visit.id, action), "label": label}
        for action, label in zip(REMINDER_ACTIONS, labels, strict=True)
    ]


def no_show_text(tr: Translator, library: Library, visit: Visit) -> str:
    _ = tr.gettext
    point, _address = _where(visit, tr.locale)
    return "\n".join((
        _("We did not see you at {point} on {when} - no problem, it happens.").format(
            point=point, when=when(tr.locale, visit.starts_at, visit.timezone)
        ),
        _("Would you like a new time for: {service}? Reply BOOK to choose one.").format(
            service=service_title(library, visit.service_type, tr.locale)
        ),
    ))


def no_show_choices(tr: Translator, visit: Visit) -> list[dict[str, str]]:
    return [{"id": choice_id(visit.id, REBOOK), "label": tr.gettext("Book a new time")}]
