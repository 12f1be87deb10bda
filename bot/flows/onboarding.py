"""First contact: greeting, language, consent, residence city and district.

Nobody is stuck here: a city or district that is not in the list is "somewhere else",
whose name the person types (kept for coordinators as a place asked for), and they get
everything but booking. HELP and MENU work at every question (``bot.engine``), and a
question the FAQ knows is answered before the onboarding question is asked again.
"""

from __future__ import annotations

import unicodedata

from bot.context import Ctx
from bot.flows.base import Step, reprompt
from bot.contract import ELSEWHERE, Choice, ConsentChanged, PlaceAsked
from bot.text import has_words, normalize
from outreach.contacts.enums import Consent, ConsentKind
from outreach.i18n import LANGUAGE_NAMES, SUPPORTED_LOCALES
from outreach.regions import City as Region

# A place's name as kept for coordinators: a name, not a story.
MAX_PLACE_CHARS = 64


class OnboardingStep(Step):
    """A question of onboarding: free text the FAQ knows well is answered in passing."""

    answers_questions = True


def language_choices(first: str | None = None) -> list[Choice]:
    """The languages, the one the person's app or phone suggests (if any) first."""
    ordered = sorted(SUPPORTED_LOCALES, key=lambda loc: loc != first)
    return [Choice(f"lang:{loc}", LANGUAGE_NAMES[loc]) for loc in ordered]


class Language(OnboardingStep):
    name = "onboard.lang"

    def text(self, ctx: Ctx) -> str:
        return ctx.both("Please choose your language.")

    def choices(self, ctx: Ctx) -> list[Choice]:
        return language_choices(ctx.hint)

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        ctx.contact.language = choice.id.removeprefix("lang:")
        resume(ctx)


class ConsentStep(OnboardingStep):
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


def _not_listed(ctx: Ctx, step: Step, norm: str) -> None:
    """Free text that is neither a choice nor a question the FAQ knows."""
    if norm and has_words(norm) and len(norm) <= MAX_PLACE_CHARS:
        step.prompt(ctx, ctx.gettext(
            "Sorry, I did not find that in the list. If your place is not in it, choose "
            "“Somewhere else” and type its name."))
    else:
        reprompt(ctx, step, norm)


class City(OnboardingStep):
    name = "onboard.city"

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("Which city do you live in now?")

    def choices(self, ctx: Ctx) -> list[Choice]:
        cities = [Choice(f"city:{c.id}", ctx.t(c.name)) for c in ctx.engine.regions.cities]
        return [*cities, Choice(f"city:{ELSEWHERE}", ctx.gettext("Somewhere else"))]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        if choice.id == f"city:{ELSEWHERE}":
            ctx.enter(Place.name, city=None)
            return
        ctx.contact.city = choice.id.removeprefix("city:")
        ctx.contact.district = None
        resume(ctx)

    def on_text(self, ctx: Ctx, norm: str, raw: str) -> None:
        _not_listed(ctx, self, norm)


class District(OnboardingStep):
    name = "onboard.district"

    def _city(self, ctx: Ctx) -> Region:
        city = ctx.engine.regions.city(ctx.contact.city or "")
        assert city is not None, "resume() only comes here with a configured city"
        return city

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("Which district of {city} do you live in?").format(
            city=ctx.t(self._city(ctx).name)
        )

    def choices(self, ctx: Ctx) -> list[Choice]:
        districts = [Choice(f"district:{d.id}", ctx.t(d.name)) for d in self._city(ctx).districts]
        return [*districts, Choice(f"district:{ELSEWHERE}", ctx.gettext("Another district"))]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        if choice.id == f"district:{ELSEWHERE}":
            ctx.enter(Place.name, city=self._city(ctx).id)
            return
        ctx.contact.district = choice.id.removeprefix("district:")
        all_set(ctx)

    def on_text(self, ctx: Ctx, norm: str, raw: str) -> None:
        _not_listed(ctx, self, norm)


def all_set(ctx: Ctx) -> None:
    ctx.say(
        ctx.gettext(
            "Thank you, you are all set! Where you live now, you can use the same free basic "
            "health and family-planning services as people with a local hukou, by the rules "
            "of that place."
        )
    )
    resume(ctx)


def _same_name(norm: str, names: dict[str, str]) -> bool:
    return any(norm == normalize(name) for name in names.values())


class Place(Step):
    """Somewhere else: the person types the name of their city (``city`` None in the
    step's data) or of their district in a listed city."""

    name = "onboard.place"

    def text(self, ctx: Ctx) -> str:
        city = ctx.engine.regions.city(ctx.state.data.get("city") or "")
        if city is None:
            return ctx.gettext("Which city or town do you live in? Please type its name.")
        return ctx.gettext("Which district or area of {city} do you live in? Please type its "
                           "name.").format(city=ctx.t(city.name))

    def choices(self, ctx: Ctx) -> list[Choice]:
        return [Choice("back", ctx.gettext("Back to the list"))]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        resume(ctx)

    def on_text(self, ctx: Ctx, norm: str, raw: str) -> None:
        name = " ".join(unicodedata.normalize("NFKC", raw).split())
        if not has_words(norm) or len(name) > MAX_PLACE_CHARS:
            self.prompt(ctx, ctx.gettext("Please type just the name of the place, in at most "
                                         "{n} characters.").format(n=MAX_PLACE_CHARS))
            return
        regions = ctx.engine.regions
        city = regions.city(ctx.state.data.get("city") or "")
        contact = ctx.contact
        if city is None:
            # A listed city typed by name after all: the list's own entry.
            listed = next((c for c in regions.cities if _same_name(norm, c.name)), None)
            if listed is not None:
                contact.city, contact.district = listed.id, None
                resume(ctx)
                return
            ctx.record(PlaceAsked(None, name))
            contact.city = contact.district = ELSEWHERE
            ctx.say(ctx.gettext(
                "Thank you! There is no service point in {place} in our list yet, so booking "
                "a checkup is not possible there, but everything else is yours: lessons, "
                "questions and the quiz. Where you live now, you can use the same free basic "
                "health and family-planning services as people with a local hukou, by the "
                "rules of that place."
            ).format(place=name))
            resume(ctx)
            return
        district = next((d for d in city.districts if _same_name(norm, d.name)), None)
        contact.city = city.id
        if district is not None:
            contact.district = district.id
        else:
            ctx.record(PlaceAsked(city.id, name))
            contact.district = ELSEWHERE
        all_set(ctx)


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
    elif contact.city is None or (
        contact.city != ELSEWHERE and ctx.engine.regions.city(contact.city) is None
    ):
        ctx.enter(City.name)
    elif contact.district is None:
        ctx.enter(District.name)
    else:
        ctx.enter("menu")
