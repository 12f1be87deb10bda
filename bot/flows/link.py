"""Linking a chat identity to a phone number: a one-time code by SMS, then one contact.

The code's keyed digest, its expiry and the attempts left live in the dialog state, so
nothing about an unfinished link outlives the conversation, and the code itself is
nowhere but in the SMS (the outbox blanks it once sent). The service sends the SMS and
merges the contacts when the engine says so (LinkCodeIssued, LinkVerified).

Codes are limited per chat and per number (``ClaimLinkCode``, counted by the service in
the turn's transaction), and the answer is the same whether or not the number opted out
of our texts (it then gets no SMS): the chat cannot be used to learn who opted out, nor
to text a stranger again and again.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton, get_datetime_format

from bot.context import Ctx
from bot.flows.base import Step
from bot.requests import ClaimLinkCode, PhoneOptedOut
from bot.text import normalize
from bot.contract import Choice, LinkCodeIssued, LinkVerified
from outreach.phones import InvalidPhoneNumber, mask
from outreach.phones import normalize as normalize_phone

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5


def digest(key: bytes, phone: str, code: str) -> str:
    """The code as kept in the dialog state: keyed (a plain hash of six digits is undone
    by trying the million of them)."""
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def when(ctx: Ctx, at: datetime) -> str:
    """A moment in the service's time zone, to the minute (rounded up: "after 10:35" is
    then true), e.g. "Dec 5, 10:35" / "12月5日 10:35"."""
    local = at.astimezone(ZoneInfo(ctx.engine.timezone))
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    pattern = str(get_datetime_format("medium", locale=ctx.locale)).replace("'", "")
    return pattern.replace("{1}", format_skeleton("MMMd", local, locale=ctx.locale)).replace(
        "{0}", format_skeleton("Hm", local, locale=ctx.locale))


class _LinkStep(Step):
    """Either step can be left for the menu."""

    def choices(self, ctx: Ctx) -> list[Choice]:
        return [ctx.menu_choice()]

    def on_choice(self, ctx: Ctx, choice: Choice) -> None:
        ctx.enter("menu")


class LinkPhone(_LinkStep):
    name = "link.phone"

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext(
            "To use the same account by SMS, type your mobile phone number (or share your "
            "contact). I will text you a 6-digit code."
        )

    def on_text(self, ctx: Ctx, norm: str, raw: str) -> None:
        _ = ctx.gettext
        try:
            phone = normalize_phone(raw, ctx.engine.default_region)
        except InvalidPhoneNumber:
            self.prompt(ctx, _("That does not look like a mobile phone number."))
            return
        retry = ctx.ask(ClaimLinkCode(phone))
        if retry is not None:
            ctx.say(_("You have asked for several codes in a short time. To keep everyone's "
                      "number safe, please try again after {time}. Meanwhile everything "
                      "else works as usual.").format(time=when(ctx, retry)))
            ctx.enter("menu")
            return
        code = f"{ctx.rng.randrange(10**6):06d}"
        # A number that opted out gets no text; the person here is told the same either
        # way (and asked for the code the same way), so the chat says nothing about it.
        if not ctx.ask(PhoneOptedOut(phone)):
            sms = _("Your Outreach code is {code}. It is valid for 10 minutes. If you did "
                    "not ask for it, ignore this message.").format(code=code)
            ctx.record(LinkCodeIssued(phone, sms))
        ctx.goto(LinkCode.name, phone=phone, digest=digest(ctx.engine.link_key, phone, code),
                 expires=(ctx.now + CODE_TTL).isoformat(), left=MAX_ATTEMPTS)
        ctx.say(_("If {phone} can receive our text messages, a 6-digit code is on its way "
                  "to it. Type the code here; it is valid for 10 minutes.").format(
                      phone=mask(phone)), self.choices(ctx))


class LinkCode(_LinkStep):
    name = "link.code"

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("Type the 6-digit code from the text message.")

    def on_text(self, ctx: Ctx, norm: str, raw: str) -> None:
        _ = ctx.gettext
        data = ctx.state.data
        # Whatever is typed here is (meant as) the code: it stays out of the history.
        ctx.turn.secret_input = True
        code = normalize(raw).replace(" ", "")
        if not (len(code) == 6 and code.isdigit()):
            self.prompt(ctx, _("The code has 6 digits."))
            return
        if ctx.now >= datetime.fromisoformat(data["expires"]):
            ctx.say(_("That code has expired. Let's send a new one."))
            ctx.enter(LinkPhone.name)
            return
        if not hmac.compare_digest(digest(ctx.engine.link_key, data["phone"], code),
                                   data["digest"]):
            left = int(data["left"]) - 1
            if left <= 0:
                ctx.say(_("That code is not right, and there are no tries left. You can "
                          "start again from the menu."))
                ctx.enter("menu")
                return
            ctx.goto(LinkCode.name, **{**data, "left": left})
            self.prompt(ctx, _("That code is not right. Tries left: {n}.").format(n=left))
            return
        ctx.record(LinkVerified(data["phone"]))
        ctx.say(_("Done: your phone number is linked. Your quizzes and answers are now the "
                  "same here and by SMS."))
        ctx.enter("menu")
