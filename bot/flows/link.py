"""Linking a chat identity to a phone number: a one-time code by SMS, then one contact.

The code's hash, its expiry and the attempts left live in the dialog state, so nothing
about an unfinished link outlives the conversation. The service sends the SMS and merges
the contacts when the engine says so (LinkCodeIssued, LinkVerified).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from bot.context import Ctx
from bot.flows.base import Step
from bot.requests import PhoneOptedOut
from bot.text import normalize
from bot.contract import Choice, LinkCodeIssued, LinkVerified
from outreach.phones import InvalidPhoneNumber, mask
from outreach.phones import normalize as normalize_phone

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5


def digest(phone: str, code: str) -> str:
    return hashlib.sha256(f"{phone}:{code}".encode()).hexdigest()


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
        if ctx.ask(PhoneOptedOut(phone)):
            ctx.say(_("That number has unsubscribed from our text messages, so I cannot send "
                      "it a code. Text START to us from it first, then try again."))
            ctx.enter("menu")
            return
        code = f"{ctx.rng.randrange(10**6):06d}"
        sms = _("Your Outreach code is {code}. It is valid for 10 minutes. If you did not ask "
                "for it, ignore this message.").format(code=code)
        ctx.record(LinkCodeIssued(phone, code, sms))
        ctx.goto(LinkCode.name, phone=phone, digest=digest(phone, code),
                 expires=(ctx.now + CODE_TTL).isoformat(), left=MAX_ATTEMPTS)
        ctx.say(_("I have texted a 6-digit code to {phone}. Type it here; it is valid for "
                  "10 minutes.").format(phone=mask(phone)), self.choices(ctx))


class LinkCode(_LinkStep):
    name = "link.code"

    def text(self, ctx: Ctx) -> str:
        return ctx.gettext("Type the 6-digit code from the text message.")

    def on_text(self, ctx: Ctx, norm: str, raw: str) -> None:
        _ = ctx.gettext
        data = ctx.state.data
        code = normalize(raw).replace(" ", "")
        if not (len(code) == 6 and code.isdigit()):
            self.prompt(ctx, _("The code has 6 digits."))
            return
        if ctx.now >= datetime.fromisoformat(data["expires"]):
            ctx.say(_("That code has expired. Let's send a new one."))
            ctx.enter(LinkPhone.name)
            return
        if digest(data["phone"], code) != data["digest"]:
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
