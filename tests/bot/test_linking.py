"""One person, two channels: a Telegram user links their phone with a code sent by SMS."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, String, Text, cast, func, select, text

from content import Library
from outreach.models import metadata
from outreach.regions import Regions
from tests.fakes.servers import SmsServer, running_app, sms_settings
from tests.fakes.servers import SECRET, TgServer, buttons
from tests.factories import free_port
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio

PHONE = "+8613800138000"
CHAT = 880001


class Both:
    def __init__(self, sms: SmsServer, tg: TgServer) -> None:
        self.sms, self.tg = sms, tg

    async def sql(self, query: str, **params: Any) -> Any:
        async with self.tg.services.db.begin() as conn:
            return (await conn.execute(text(query), params)).scalar_one()

    def code_sent(self) -> str:
        body = self.sms.sent_to(PHONE)[-1]["body"]
        found = re.search(r"\b(\d{6})\b", body)
        assert found, body
        return found.group(1)


@pytest.fixture
async def both(
    db_url: str, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram, library: Library, regions: Regions
) -> AsyncIterator[Both]:
    fake_twilio.reset()
    fake_telegram.reset()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = sms_settings(
        db_url, base, fake_twilio, telegram_token=fake_telegram.token, telegram_secret=SECRET,
        telegram_api_base=fake_telegram.base_url,
    )
    async with running_app(settings, port, library, regions) as (services, http):
        yield Both(SmsServer(base, services, fake_twilio, http), TgServer(base, services, fake_telegram, http))


async def request_code(both: Both, number: str = PHONE) -> str:
    """Onboard on Telegram, ask to link ``number``; the code that was texted to it."""
    tg = both.tg
    await onboard_on_telegram(tg)
    await tg.press(CHAT, "link")
    await tg.say(CHAT, number)
    await both.sms.services.dispatcher.drain_once()
    return both.code_sent()


def other_than(code: str) -> str:
    return "000000" if code != "000000" else "111111"


async def onboard_on_telegram(tg: TgServer) -> dict[str, Any]:
    await tg.say(CHAT, "/start", language_code="en")
    await tg.press(CHAT, "lang:en")
    await tg.press(CHAT, "consent:yes")
    await tg.press(CHAT, "city:shenzhen")
    return await tg.press(CHAT, "district:futian")


async def test_link_merges_the_sms_history_into_one_contact(both: Both) -> None:
    sms, tg = both.sms, both.tg
    # First this person used SMS: onboarded and took a quiz.
    for body in ["hi", "2", "yes", "1", "1", "3", "1", "1", "1", "1", "1"]:
        await sms.converse(PHONE, body)
    assert await both.sql("SELECT count(*) FROM quiz_attempt WHERE status = 'completed'") == 1
    sms_messages = await both.sql("SELECT count(*) FROM message")
    # Then Telegram, where the menu offers linking.
    menu = await onboard_on_telegram(tg)
    assert "link" in buttons(menu)
    answer = await tg.press(CHAT, "link")
    assert "phone number" in answer["text"]
    answer = await tg.say(CHAT, "138 0013 8000")       # a local number, with spaces
    assert "+86*********00" in answer["text"]
    await sms.services.dispatcher.drain_once()
    code = both.code_sent()
    answer = await tg.say(CHAT, other_than(code))
    assert "Tries left: 4" in answer["text"]
    answer = await tg.say(CHAT, code)
    assert "linked" in answer["text"]
    # One contact, reachable both ways, with the SMS history and quiz attempt.
    assert await both.sql("SELECT count(*) FROM contact") == 1
    assert await both.sql("SELECT count(*) FROM contact_urn") == 2
    assert await both.sql("SELECT count(DISTINCT contact_id) FROM quiz_attempt") == 1
    assert await both.sql("SELECT count(*) FROM message") > sms_messages
    async with tg.services.db.begin() as conn:
        urns = {tuple(r) for r in (await conn.execute(text("SELECT scheme, path FROM contact_urn"))).all()}
    assert urns == {("telegram", str(CHAT)), ("tel", PHONE)}
    # The knowledge rate counts one respondent (without suppression: a total of one
    # person is otherwise withheld, n included).
    from outreach.stats.service import knowledge_rate

    settings = tg.services.settings
    async with tg.services.db.session() as session:
        report = await knowledge_rate(
            session, group_by=None, pass_mark=settings.pass_mark, target=settings.knowledge_target,
            suppress_below=1, retake_days=settings.retake_days)
    assert report.first.overall.n == report.latest.overall.n == 1
    # And the same person texting again is the same contact, in the state Telegram left.
    await sms.converse(PHONE, "MENU")
    assert await both.sql("SELECT count(*) FROM contact") == 1


async def test_linking_a_new_number_just_adds_it(both: Both) -> None:
    await both.tg.say(CHAT, await request_code(both))
    assert await both.sql("SELECT count(*) FROM contact") == 1
    assert await both.sql("SELECT count(*) FROM contact_urn WHERE scheme = 'tel'") == 1


async def test_a_shared_contact_gives_the_number(both: Both) -> None:
    tg = both.tg
    await onboard_on_telegram(tg)
    await tg.press(CHAT, "link")
    answer = await tg._turn(CHAT, tg.fake.contact_update(CHAT, "8613800138000"))
    assert "+86*********00" in answer["text"]
    await both.sms.services.dispatcher.drain_once()
    await tg.say(CHAT, both.code_sent())
    assert await both.sql("SELECT path FROM contact_urn WHERE scheme = 'tel'") == PHONE


async def test_attempts_are_limited(both: Both) -> None:
    tg = both.tg
    code = await request_code(both)
    wrong = other_than(code)
    for _ in range(4):
        await tg.say(CHAT, wrong)
    answer = await tg.say(CHAT, wrong)
    assert "no tries left" in answer["text"] and "link" in buttons(answer)
    answer = await tg.say(CHAT, code)          # too late: it is an ordinary message now
    assert await both.sql("SELECT count(*) FROM contact_urn WHERE scheme = 'tel'") == 0


async def test_codes_expire(both: Both) -> None:
    tg = both.tg
    code = await request_code(both)
    async with tg.services.db.begin() as conn:   # ten minutes pass
        dialog = (await conn.execute(text("SELECT dialog FROM contact"))).scalar_one()
        import json

        state = json.loads(dialog) if isinstance(dialog, str) else dialog
        state["data"]["expires"] = "2000-01-01T00:00:00+00:00"
        await conn.execute(text("UPDATE contact SET dialog = :d"), {"d": json.dumps(state)})
    answer = await tg.say(CHAT, code)
    assert "expired" in answer["text"]
    assert await both.sql("SELECT count(*) FROM contact_urn WHERE scheme = 'tel'") == 0


async def onboard_chat(tg: TgServer, chat: int) -> None:
    await tg.say(chat, "/start", language_code="en")
    for choice in ("lang:en", "consent:yes", "city:shenzhen", "district:futian"):
        await tg.press(chat, choice)


async def ask_code(tg: TgServer, chat: int, number: str) -> dict[str, Any]:
    """From the menu (or the code step), ask to link ``number``; the bot's answer."""
    if "link" not in buttons(tg.fake.sent_to(chat)[-1]):
        await tg.press(chat, "menu")
    await tg.press(chat, "link")
    return await tg.say(chat, number)


async def test_an_opted_out_number_gets_the_same_answer_and_no_text(both: Both) -> None:
    sms, tg = both.sms, both.tg
    await sms.converse(PHONE, "STOP")
    # The same last two digits: masked, the two numbers read the same.
    other = "+8613900139000"
    for chat in (CHAT, CHAT + 1):
        await onboard_chat(tg, chat)
    opted_out = await ask_code(tg, CHAT, PHONE)
    reachable = await ask_code(tg, CHAT + 1, other)
    assert opted_out["text"] == reachable["text"]
    assert buttons(opted_out) == buttons(reachable)
    assert "If +86*********00 can receive our text messages" in opted_out["text"]
    await sms.services.dispatcher.drain_once()
    assert len(sms.sent_to(PHONE)) == 1            # only the opt-out confirmation
    assert len(sms.sent_to(other)) == 1            # the code
    # Typing a guess for the number that got nothing reads like any wrong code.
    answer = await tg.say(CHAT, "123456")
    assert "Tries left: 4" in answer["text"]
    # And its codes count against the limits the same way.
    for _ in range(2):
        await ask_code(tg, CHAT, PHONE)
    fourth = await ask_code(tg, CHAT, PHONE)
    assert "try again after" in fourth["text"]


async def test_the_fourth_code_in_an_hour_for_one_chat_is_refused(both: Both) -> None:
    tg, sms = both.tg, both.sms
    await onboard_chat(tg, CHAT)
    numbers = [f"+861380013800{i}" for i in range(4)]
    for number in numbers[:3]:
        answer = await ask_code(tg, CHAT, number)
        assert "a 6-digit code is on its way" in answer["text"]
    answer = await ask_code(tg, CHAT, numbers[3])
    assert "several codes in a short time" in answer["text"]
    # When: an hour after the first of the three, to the minute, in the service's zone.
    assert re.search(r"try again after \w{3} \d{1,2}, \d{2}:\d{2}\.", answer["text"]), answer["text"]
    assert "learn" in buttons(answer)                # back at the menu
    await sms.services.dispatcher.drain_once()
    assert [len(sms.sent_to(n)) for n in numbers] == [1, 1, 1, 0]
    assert await both.sql("SELECT count(*) FROM link_request") == 3


async def test_the_fourth_code_for_one_number_in_a_day_is_refused_whatever_the_chat(both: Both) -> None:
    tg, sms = both.tg, both.sms
    for i in range(4):
        await onboard_chat(tg, CHAT + i)
    for i in range(3):
        answer = await ask_code(tg, CHAT + i, PHONE)
        assert "a 6-digit code is on its way" in answer["text"]
    answer = await ask_code(tg, CHAT + 3, PHONE)
    assert "several codes in a short time" in answer["text"]
    await sms.services.dispatcher.drain_once()
    assert len(sms.sent_to(PHONE)) == 3
    # The number is counted by its digest: it is not in the table.
    assert await both.sql("SELECT count(*) FROM link_request WHERE phone_digest LIKE :p",
                          p=f"%{PHONE[1:]}%") == 0


async def test_no_plain_code_in_the_database_or_the_log_after_linking(
    both: Both, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tg = both.tg
    code = await request_code(both)
    await tg.say(CHAT, other_than(code))                # a wrong try is kept out too
    answer = await tg.say(CHAT, code)
    assert "linked" in answer["text"]
    found = await cells_containing(both, code)
    assert found == [], found
    assert code not in caplog.text
    # The history says a code was typed, not which.
    assert await both.sql("SELECT count(*) FROM message WHERE text = '[code]'") == 2
    assert await both.sql("SELECT body FROM outbox WHERE purpose = 'one_time_code'") == ""


async def test_an_unsent_code_is_blanked_when_it_expires(both: Both) -> None:
    tg = both.tg
    await onboard_on_telegram(tg)
    await tg.press(CHAT, "link")
    assert await tg.deliver(tg.fake.message_update(CHAT, PHONE)) == 200   # nothing sent yet
    # Until it is sent the outbox holds the text (it must, to send it) …
    body = await both.sql("SELECT body FROM outbox WHERE purpose = 'one_time_code'")
    code = re.search(r"\d{6}", body)
    assert code is not None
    # … and once the code's ten minutes are over it is not sent, and not kept either.
    services = tg.services
    async with services.db.begin() as raw:
        later = services.clock.now() + timedelta(minutes=10)
        assert await raw.count(services.dispatcher.sql["expire"], {"now": later}) == 1
    assert await cells_containing(both, code.group(0)) == []
    assert await both.sql("SELECT status FROM outbox WHERE purpose = 'one_time_code'") == "expired"


async def cells_containing(both: Both, needle: str) -> list[tuple[str, str]]:
    """Every (table, column) of every table whose text (JSON included) contains ``needle``."""
    found = []
    columns = 0
    async with both.tg.services.db.begin() as conn:
        for table in metadata.sorted_tables:
            for column in table.columns:
                kind = getattr(column.type, "impl", column.type)   # AutoString is a decorator
                if not isinstance(kind, String | Text | JSON):
                    continue
                columns += 1
                query = select(func.count()).select_from(table).where(
                    cast(column, Text).contains(needle))
                if (await conn.execute(query)).scalar_one():
                    found.append((table.name, column.name))
    assert columns > 40   # every text column, AutoString's included
    return found


async def test_no_linking_without_sms(tg: TgServer) -> None:
    await tg.say(CHAT, "/start", language_code="en")
    await tg.press(CHAT, "lang:en")
    await tg.press(CHAT, "consent:yes")
    await tg.press(CHAT, "city:shenzhen")
    menu = await tg.press(CHAT, "district:futian")
    assert "link" not in buttons(menu)


async def test_chats_asking_for_one_number_at_once_are_counted_one_after_the_other(both: Both) -> None:
    """Five chats ask for the same number at the same moment: three codes, not five (on
    PostgreSQL the turns run in parallel; the number's lock orders the counting)."""
    tg, sms = both.tg, both.sms
    chats = [CHAT + i for i in range(5)]
    for chat in chats:
        await onboard_chat(tg, chat)
        await tg.press(chat, "link")
    statuses = await asyncio.gather(*(tg.deliver(tg.fake.message_update(chat, PHONE))
                                      for chat in chats))
    assert statuses == [200] * 5
    await sms.services.dispatcher.drain_once()
    assert await both.sql("SELECT count(*) FROM link_request") == 3
    assert len(sms.sent_to(PHONE)) == 3
    refused = [m for chat in chats for m in tg.fake.sent_to(chat)
               if "several codes in a short time" in m["text"]]
    assert len(refused) == 2
