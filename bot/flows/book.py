"""Booking a free service, "My appointments", and answers to reminders.

Book → service → point (the person's district first) → day → time with a free place →
confirm. The service points, free places and the booking itself come from the service
through ``ctx.ask`` (typed requests, ``bot.requests``): the booking is made under the
slot's lock in the same transaction as this turn, so "booked" is never said about a
place someone else took a moment earlier.

A reminder (or the offer to rebook after a missed visit) asks a question the dialog
did not: until the person next writes, ``contact.prompt`` names it, so a bare "1"
answers the reminder rather than the step they were at. Its words (CONFIRM, CHANGE,
CANCEL, 确认, 改期, 取消) and Telegram's buttons work too.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton, format_time

from bot.context import Ctx
from bot.flows import onboarding
from bot.flows.base import Step
from bot.text import Keyword, as_number, keyword, normalize
from bot.contract import Choice
from outreach.appointments.texts import (
    REBOOK,
    REMINDER_ACTIONS,
    parse_choice,
    plain,
    service_title,
    summary,
    when,
)
from bot.requests import (
    AppointmentOf,
    Book,
    Cancel,
    Confirm,
    FreePlaces,
    PointsOffering,
    Reschedule,
    UpcomingAppointments,
)
from outreach.appointments.views import AppointmentStatus, Point, Visit

# A reminder's answers by word; by number they are REMINDER_ACTIONS' order (1, 2, 3).
REPLIES: dict[str, str] = {
    **dict.fromkeys(("confirm", "确认", "确定"), "confirm"),
    **dict.fromkeys(("change", "reschedule", "改期", "改时间"), "change"),
    **dict.fromkeys(("cancel", "取消"), "cancel"),
}


def _local(start: datetime, tz: str) -> datetime:
    return start.astimezone(ZoneInfo(tz))


def _point_name(ctx: Ctx, point: Point) -> str:
    return ctx.t(point.name)


def start(ctx: Ctx) -> None:
    ctx.enter(BookService.name)


def choose_point(ctx: Ctx, service: str) -> None:
    if not ctx.ask(PointsOffering(service)):
        ctx.say(ctx.gettext("No service point offers this near you yet. Please ask a health "
                            "worker, or choose another service."))
        ctx.enter(BookService.name)
        return
    ctx.enter(BookPoint.name, service=service)


def choose_day(ctx: Ctx, service: str, point: int, tz: str, name: str,
               appointment: int | None = None) -> None:
    data: dict[str, Any] = {"service": service, "point": point, "tz": tz, "name": name}
    if appointment is not None:
        data["appointment"] = appointment
    if not ctx.ask(FreePlaces(point)):
        ctx.say(ctx.gettext("There are no free places at {point} in the next 14 days.").format(
            point=name))
        if appointment is None:
            choose_point(ctx, service)
        else:
            onboarding.resume(ctx)
        return
    ctx.enter(BookDay.name, **data)


def _free(ctx: Ctx) -> dict[datetime, int]:
    return ctx.ask(FreePlaces(ctx.state.data["point"])) or {}


class BookService(Step):
    name = "book.service"

    def prompt(self, ctx: Ctx, notice: str | None = None) -> None:
        # Every way into booking comes here (the menu, BOOK, a follow-up's offer).
        if ctx.contact.elsewhere:
            cities = ctx.gettext(", ").join(ctx.t(c.name) for c in ctx.engine.regions.cities)
            ctx.say(ctx.gettext(
                "Booking a checkup is only available in the cities on our list ({cities}) for "
                "now. Wherever you live, you have the right to these free services: ask at "
                "the health centre or family-planning service station near you. Everything "
                "else here is yours: lessons, questions and the quiz."
            ).format(cities=cities))
            ctx.enter("menu")
            return
        super().prompt(ctx, notice)

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("Which free service would you like to book?")

    def choices(self, ctx: Ctx) -> list[Choice]:
        services = [Choice(f"svc:{s.id}", ctx.t(s.title)) for s in ctx.engine.library.service_types]
        return [*services, ctx.menu_choice()]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        if choice.id == "menu":
            ctx.enter("menu")
            return
        choose_point(ctx, choice.id.removeprefix("svc:"))


class BookPoint(Step):
    name = "book.point"

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("Where would you like to go? Service points near you come first.")

    def _points(self, ctx: Ctx) -> list[Point]:
        return ctx.ask(PointsOffering(ctx.state.data["service"]))

    def choices(self, ctx: Ctx) -> list[Choice]:
        label = ctx.gettext("{point}, {address}")
        points = [Choice(f"pt:{p.id}", label.format(point=_point_name(ctx, p),
                                                    address=ctx.t(p.address)))
                  for p in self._points(ctx)]
        return [*points, ctx.menu_choice()]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        if choice.id == "menu":
            ctx.enter("menu")
            return
        point_id = int(choice.id.removeprefix("pt:"))
        point = next(p for p in self._points(ctx) if p.id == point_id)
        choose_day(ctx, ctx.state.data["service"], point.id, point.timezone,
                   _point_name(ctx, point))


class BookDay(Step):
    name = "book.day"

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("Which day? These days have free places at {point}.").format(
            point=ctx.state.data["name"])

    def _days(self, ctx: Ctx) -> list[date]:
        tz = ctx.state.data["tz"]
        return sorted({_local(start, tz).date() for start in _free(ctx)})

    def choices(self, ctx: Ctx) -> list[Choice]:
        days = [Choice(f"day:{d.isoformat()}",
                       plain(format_skeleton("MMMEd", d, locale=ctx.locale)))
                for d in self._days(ctx)]
        return [*days, ctx.menu_choice()]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        if choice.id == "menu":
            ctx.enter("menu")
            return
        ctx.enter(BookSlot.name, **ctx.state.data, day=choice.id.removeprefix("day:"))


class BookSlot(Step):
    name = "book.slot"

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("What time? (free places in brackets)")

    def _slots(self, ctx: Ctx) -> list[tuple[datetime, int]]:
        tz, day = ctx.state.data["tz"], ctx.state.data["day"]
        return sorted((s, n) for s, n in _free(ctx).items()
                      if _local(s, tz).date().isoformat() == day)

    def choices(self, ctx: Ctx) -> list[Choice]:
        tz = ctx.state.data["tz"]
        slots = [
            Choice(f"at:{s.isoformat()}",
                   f"{plain(format_time(_local(s, tz), 'short', locale=ctx.locale))} ({n})")
            for s, n in self._slots(ctx)
        ]
        return [*slots, Choice("days", ctx.gettext("Another day")), ctx.menu_choice()]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        data = {k: v for k, v in ctx.state.data.items() if k != "day"}
        if choice.id == "menu":
            ctx.enter("menu")
        elif choice.id == "days":
            choose_day(ctx, **data)
        else:
            ctx.enter(BookConfirm.name, **ctx.state.data, start=choice.id.removeprefix("at:"))

    def on_text(self, ctx: Ctx, norm: str, raw: str) -> None:
        if not self._slots(ctx):  # the day filled up meanwhile
            data = {k: v for k, v in ctx.state.data.items() if k != "day"}
            ctx.say(ctx.gettext("That day has no free places any more."))
            choose_day(ctx, **data)
            return
        super().on_text(ctx, norm, raw)


class BookConfirm(Step):
    name = "book.confirm"

    def text(self, ctx: Ctx) -> str:
        data = ctx.state.data
        start = datetime.fromisoformat(data["start"])
        question = (ctx.gettext("Move your appointment to {when}?") if "appointment" in data
                    else ctx.gettext("Book {service} at {point} on {when}?"))
        return question.format(service=service_title(ctx.engine.library, data["service"], ctx.locale), point=data["name"],
                               when=when(ctx.locale, start, data["tz"]))

    def choices(self, ctx: Ctx) -> list[Choice]:
        _ = ctx.gettext
        return [Choice("yes", _("Yes, book it")), Choice("other", _("Another time")),
                ctx.menu_choice()]

    aliases = {"yes": "yes", "y": "yes", "ok": "yes", "是": "yes", "好": "yes", "确认": "yes"}

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        data = dict(ctx.state.data)
        start = data.pop("start")
        data.pop("day", None)
        if choice.id == "menu":
            ctx.enter("menu")
            return
        if choice.id == "other":
            choose_day(ctx, **data)
            return
        _ = ctx.gettext
        if "appointment" in data:
            done = ctx.ask(Reschedule(data["appointment"], datetime.fromisoformat(start)))
        else:
            done = ctx.ask(Book(data["point"], data["service"],
                                datetime.fromisoformat(start))) is not None
        if not done:
            ctx.say(_("Sorry, that time was just taken. Please choose another."))
            choose_day(ctx, **data)
            return
        moment = when(ctx.locale, datetime.fromisoformat(start), data["tz"])
        if "appointment" in data:
            ctx.say(_("Done: your appointment is now on {when} at {point}. I will remind you "
                      "before.").format(when=moment, point=data["name"]))
        else:
            ctx.say(_("Booked: {service} at {point} on {when}. I will remind you before; send "
                      "MENU and choose My appointments to change or cancel it.").format(
                service=service_title(ctx.engine.library, data["service"], ctx.locale), point=data["name"], when=moment))
        ctx.enter("menu")


class MyAppointments(Step):
    name = "appts"

    def _visits(self, ctx: Ctx) -> list[Visit]:
        return ctx.ask(UpcomingAppointments())

    def text(self, ctx: Ctx) -> str:
        if not self._visits(ctx):
            return ctx.gettext("You have no upcoming appointments.")
        return ctx.gettext("Your upcoming appointments: choose one to reschedule or cancel it.")

    def choices(self, ctx: Ctx) -> list[Choice]:
        visits = [Choice(f"appt:{v.id}", summary(ctx.tr, ctx.engine.library, v))
                  for v in self._visits(ctx)]
        return [*visits, Choice("book", ctx.gettext("Book a free checkup")), ctx.menu_choice()]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        if choice.id == "menu":
            ctx.enter("menu")
        elif choice.id == "book":
            start(ctx)
        else:
            ctx.enter(AppointmentItem.name, appointment=int(choice.id.removeprefix("appt:")))


class AppointmentItem(Step):
    name = "appts.item"

    def _visit(self, ctx: Ctx) -> Visit | None:
        visit = ctx.ask(AppointmentOf(ctx.state.data["appointment"]))
        return visit if visit is not None and visit.status == AppointmentStatus.booked else None

    def prompt(self, ctx: Ctx, notice: str | None = None) -> None:
        if self._visit(ctx) is None:
            ctx.say(ctx.gettext("That appointment is no longer booked."))
            ctx.enter(MyAppointments.name)
            return
        super().prompt(ctx, notice)

    def text(self, ctx: Ctx) -> str:
        visit = self._visit(ctx)
        assert visit is not None
        return summary(ctx.tr, ctx.engine.library, visit)

    def choices(self, ctx: Ctx) -> list[Choice]:
        _ = ctx.gettext
        return [Choice("change", _("Reschedule")), Choice("cancel", _("Cancel appointment")),
                Choice("back", _("My appointments")), ctx.menu_choice()]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        visit = self._visit(ctx)
        if choice.id == "menu":
            ctx.enter("menu")
        elif choice.id == "back" or visit is None:
            ctx.enter(MyAppointments.name)
        else:
            act(ctx, visit, choice.id)


def act(ctx: Ctx, visit: Visit, action: str) -> None:
    """Confirm, reschedule, cancel or rebook ``visit`` (a booked one, the person's own)."""
    _ = ctx.gettext
    name = ctx.t(visit.point_name)
    if action == "change":
        choose_day(ctx, visit.service_type, visit.point_id, visit.timezone, name,
                   appointment=visit.id)
    elif action == REBOOK:
        choose_day(ctx, visit.service_type, visit.point_id, visit.timezone, name)
    elif action == "confirm":
        ctx.ask(Confirm(visit.id))
        ctx.say(_("Thank you! See you at {point} on {when}.").format(
            point=name, when=when(ctx.locale, visit.starts_at, visit.timezone)))
        onboarding.resume(ctx)
    else:
        ctx.ask(Cancel(visit.id))
        ctx.say(_("Your appointment is cancelled. You can book again at any time: send BOOK."))
        onboarding.resume(ctx)


def reminder_reply(ctx: Ctx, norm: str, prompt: str | None) -> bool:
    """Handle an answer to a reminder or a rebooking offer; False if it is not one."""
    parsed = parse_choice(norm)  # a Telegram button on such a message
    if parsed is not None:
        appointment, action = parsed
    elif prompt is not None:
        kind, _, topic = prompt.partition(":")
        if not topic.startswith("appointment:"):
            return False
        appointment = int(topic.rsplit(":", 1)[1])
        number = as_number(norm)
        _ = ctx.gettext
        # The buttons' labels, typed or tapped (the simulator sends the label).
        labels = {normalize(_("Confirm")): "confirm", normalize(_("Reschedule")): "change",
                  normalize(_("Cancel appointment")): "cancel",
                  normalize(_("Book a new time")): REBOOK}
        if kind == "reminder":
            action = REPLIES.get(norm) or labels.get(norm, "") or (
                REMINDER_ACTIONS[number - 1] if number is not None and 1 <= number <= 3 else "")
        else:  # the offer to rebook after a missed visit: 1, BOOK or its button
            rebook = number == 1 or keyword(norm) is Keyword.book or labels.get(norm) == REBOOK
            action = REBOOK if rebook else ""
        if not action:
            return False
    else:
        return False
    visit = ctx.ask(AppointmentOf(appointment))
    if visit is None or visit.status != AppointmentStatus.booked and action != REBOOK:
        ctx.say(ctx.gettext("That appointment is no longer booked."))
        onboarding.resume(ctx)
        return True
    act(ctx, visit, action)
    return True
