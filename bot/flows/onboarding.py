"""First contact: greeting, language, consent, residence city and district."""

from __future__ import annotations

from bot.context import Ctx
from bot.flows.base import Step
from bot.contract import Choice, ConsentChanged
from outreach.contacts.enums import Consent, ConsentKind
from outreach.i18n import LANGUAGE_NAMES, SUPPORTED_LOCALES


def language_choices(first: str | None = None) -> list[Choice]:
    """The languages, the one the person's app or phone suggests (if any) first."""
    ordered = sorted(SUPPORTED_LOCALES, key=lambda loc: loc != first)
    return [Choice(f"lang:{loc}", LANGUAGE_NAMES[loc]) for loc in ordered]


class Language(Step):
    name = "onboard.lang"

    def text(self, ctx: Ctx) -> str:
        return ctx.both("Please choose your language.")

    def choices(self, ctx: Ctx) -> list[Choice]:
        return language_choices(ctx.hint)

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        ctx.contact.language = choice.id.removeprefix("lang:")
        resume(ctx)


class ConsentStep(Step):
    name = "onboard.consent"
    aliases = {
        **dict.fromkeys(("yes", "y", "ok", "agree", "i agree", "是", "是的", "好", "好的", "同意", "可以"), "consent:yes"),
        **dict.fromkeys(("no", "n", "不", "否", "不要", "不同意", "不行"), "consent:no"),
    }

    def text(self, ctx: Ctx) -> str:
        _ = ctx.gettext
        return _(
            "Before we start: to help you, we keep your language, the city and district "
            "you choose, your quiz answers and our chat. We use them only for this free "
            "health service and share them with no one. You can send STOP at any time. "
            "Do you agree?"
        )

    def choices(self, ctx: Ctx) -> list[Choice]:
        _ = ctx.gettext
        return [Choice("consent:yes", _("Yes, I agree")), Choice("consent:no", _("No"))]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        _ = ctx.gettext
        if choice.id == "consent:yes":
            ctx.contact.consent = Consent.granted
            ctx.record(ConsentChanged(ConsentKind.granted))
            resume(ctx)
            return
        # Declining keeps the refusal and nothing else: forget the language too.
        ctx.say(
            _(
                "Understood. We have kept nothing about you except your answer. "
                "If you change your mind, just send us a message."
            )
        )
        ctx.contact.consent = Consent.declined
        ctx.contact.language = None
        ctx.contact.city = ctx.contact.district = ctx.contact.community = None
        ctx.record(ConsentChanged(ConsentKind.declined))
        ctx.goto("new")


class City(Step):
    name = "onboard.city"

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("Which city do you live in now?")

    def choices(self, ctx: Ctx) -> list[Choice]:
        return [Choice(f"city:{c.id}", ctx.t(c.name)) for c in ctx.engine.regions.cities]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        ctx.contact.city = choice.id.removeprefix("city:")
        ctx.contact.district = None
        resume(ctx)


class District(Step):
    name = "onboard.district"

    def _city(self, ctx: Ctx):  # type: ignore[no-untyped-def]
        city = ctx.engine.regions.city(ctx.contact.city or "")
        assert city is not None, "resume() only comes here with a configured city"
        return city

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("Which district of {city} do you live in?").format(
            city=ctx.t(self._city(ctx).name)
        )

    def choices(self, ctx: Ctx) -> list[Choice]:
        return [Choice(f"district:{d.id}", ctx.t(d.name)) for d in self._city(ctx).districts]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        ctx.contact.district = choice.id.removeprefix("district:")
        ctx.say(
            ctx.gettext(
                "Thank you, you are all set! Wherever you live now, you have the right to "
                "the same free family-planning and health services as local residents."
            )
        )
        resume(ctx)


def greet(ctx: Ctx) -> None:
    """The very first words to someone whose language we do not know."""
    ctx.goto(Language.name)
    ctx.say(
        ctx.both(
            "Hello! I am the free health-services helper for people who have moved to a "
            "new city."
        )
        + "\n\n"
        + ctx.both("Please choose your language."),
        language_choices(ctx.hint),
    )


def resume(ctx: Ctx) -> None:
    """Go to the first onboarding question not yet answered, or to the main menu."""
    contact = ctx.contact
    if contact.language is None:
        greet(ctx)
    elif contact.consent != Consent.granted:
        ctx.enter(ConsentStep.name)
    elif contact.city is None or ctx.engine.regions.city(contact.city) is None:
        ctx.enter(City.name)
    elif contact.district is None:
        ctx.enter(District.name)
    else:
        ctx.enter("menu")
