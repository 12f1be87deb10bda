"""Nobody is stuck in onboarding: "somewhere else" for a city or district not in the
list (the typed place kept for coordinators), and HELP, MENU and questions at every
onboarding question. Scripted conversations through the simulator API."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlmodel import select

from outreach.contacts.models import Contact, PlaceAsked
from outreach.container import Container
from outreach.quizzes.models import QuizAttempt
from tests.bot.test_conversations import MENU, count
from tests.factories import CJK, Chat
from tests.fakes.servers import TgServer, buttons

CITIES = ["city:shenzhen", "city:guangzhou", "city:hangzhou", "city:elsewhere"]


async def contact(services: Container) -> Contact:
    async with services.db.session() as session:
        return (await session.exec(select(Contact))).one()


async def places(services: Container) -> list[tuple[str | None, str, str]]:
    async with services.db.session() as session:
        rows = (await session.exec(select(PlaceAsked))).all()
    return [(r.city, r.name, r.key) for r in rows]


async def to_city_question(chat: Chat, language: str = "en") -> None:
    await chat.send("hello")
    await chat.pick(f"lang:{language}")
    await chat.pick("consent:yes")
    assert chat.choice_ids == CITIES


@pytest.mark.parametrize(("language", "label", "place"),
                         [("zh_Hans", "其他地方", "成都"), ("en", "Somewhere else", "Chengdu")])
async def test_a_city_not_in_the_list(client: httpx.AsyncClient, services: Container,
                                      language: str, label: str, place: str) -> None:
    chat = Chat(client, f"elsewhere-{language}")
    await to_city_question(chat, language)
    assert chat.label("city:elsewhere") == label
    await chat.pick("city:elsewhere")
    assert chat.choice_ids == ["back"]
    assert ("type its name" in chat.text) == (language == "en")
    await chat.send(f"  {place} ")
    assert place in chat.text
    assert chat.choice_ids == MENU
    c = await contact(services)
    assert (c.city, c.district) == ("elsewhere", "elsewhere")
    assert await places(services) == [(None, place, place.casefold())]


async def test_a_district_not_in_the_list(client: httpx.AsyncClient, services: Container) -> None:
    chat = Chat(client, "other-district")
    await to_city_question(chat)
    await chat.pick("city:shenzhen")
    assert chat.choice_ids[-1] == "district:elsewhere"
    assert chat.label("district:elsewhere") == "Another district"
    await chat.pick_number("district:elsewhere")
    assert "Shenzhen" in chat.text
    await chat.send("Longhua")
    assert "all set" in chat.text and chat.choice_ids == MENU
    c = await contact(services)
    assert (c.city, c.district) == ("shenzhen", "elsewhere")
    assert await places(services) == [("shenzhen", "Longhua", "longhua")]


async def test_a_listed_place_typed_after_somewhere_else_is_the_list_entry(
    client: httpx.AsyncClient, services: Container
) -> None:
    chat = Chat(client, "typed-listed")
    await to_city_question(chat, "zh_Hans")
    await chat.send("宝安区")                          # a place, not a question to the FAQ
    assert "其他地方" in chat.text and len(chat.replies) == 1
    await chat.pick("city:elsewhere")
    await chat.send("广州")
    assert chat.choice_ids[0] == "district:tianhe"
    await chat.pick("district:elsewhere")
    await chat.send("天河区")                          # listed after all
    assert chat.choice_ids == MENU
    c = await contact(services)
    assert (c.city, c.district) == ("guangzhou", "tianhe")
    assert await places(services) == []


async def test_back_to_the_list_and_what_is_not_a_place(client: httpx.AsyncClient,
                                                        services: Container) -> None:
    chat = Chat(client, "place-back")
    await to_city_question(chat)
    await chat.send("Atlantis")                        # not a choice: where to find one
    assert "Somewhere else" in chat.text and chat.choice_ids == CITIES
    await chat.send("hello again")                     # not answered as a question either
    assert "Somewhere else" in chat.text and len(chat.replies) == 1
    await chat.pick("city:elsewhere")
    await chat.send("👍👍")
    assert "name of the place" in chat.text and chat.choice_ids == ["back"]
    await chat.send("x" * 65)
    assert "64 characters" in chat.text
    await chat.pick("back")
    assert chat.choice_ids == CITIES
    assert await places(services) == []
    assert (await contact(services)).city is None


async def test_somewhere_else_gets_everything_but_booking(client: httpx.AsyncClient,
                                                          services: Container) -> None:
    chat = Chat(client, "elsewhere-user")
    await to_city_question(chat)
    await chat.pick("city:elsewhere")
    await chat.send("Kunming")
    # Lessons.
    await chat.pick("learn")
    await chat.pick("topic:family_planning")
    await chat.pick([c for c in chat.choice_ids if c.startswith("lesson:")][0])
    assert "Source: 2010 guidance No. 69, section 3(2)2" in chat.text
    # Questions, at the menu and in Ask: the English source line has no Chinese in it.
    await chat.send("MENU")
    await chat.send("do I have to pay for contraceptives?")
    assert "Source: 2010 guidance No. 69, section 3(2)2" in chat.text
    assert not re.search("[\u4e00-\u9fff]", chat.text)
    # Booking: kindly not here, and back at the menu; BOOK says the same.
    await chat.send("MENU")
    await chat.pick("book")
    assert "only available in the cities on our list (Shenzhen, Guangzhou, Hangzhou)" in chat.text
    assert chat.choice_ids == MENU
    await chat.send("BOOK")
    assert "only available in the cities on our list" in chat.text and chat.choice_ids == MENU
    # The quiz, to the end.
    await chat.pick("quiz")
    for _ in range(5):
        await chat.pick_number([c for c in chat.choice_ids if c.startswith("opt:")][0])
    assert chat.choice_ids == MENU
    assert await count(services, QuizAttempt, QuizAttempt.status == "completed") == 1


async def test_booking_in_chinese_says_which_cities(client: httpx.AsyncClient) -> None:
    chat = Chat(client, "elsewhere-zh")
    await to_city_question(chat, "zh_Hans")
    await chat.pick("city:elsewhere")
    await chat.send("昆明")
    await chat.send("预约")
    assert "深圳、广州、杭州" in chat.text and chat.choice_ids == MENU


async def test_help_menu_and_questions_during_onboarding(client: httpx.AsyncClient,
                                                         services: Container) -> None:
    chat = Chat(client, "mid-onboarding")
    await chat.send("hi")
    # A question before the language is chosen: answered in the language it is in.
    await chat.send("在这边领避孕套要花钱吗")
    assert "三(二)2" in chat.replies[0]["text"] and CJK.search(chat.replies[0]["text"]), chat.replies
    assert chat.choice_ids == ["lang:zh_Hans", "lang:en"]
    await chat.pick("lang:en")
    # HELP at consent: who we are, then the same question.
    await chat.send("HELP")
    assert "MENU" in chat.text and chat.choice_ids == ["consent:yes", "consent:no"]
    # MENU at consent: says the menu comes next, and asks again.
    await chat.send("MENU")
    assert "main menu comes right after" in chat.text
    assert chat.choice_ids == ["consent:yes", "consent:no"]
    # A question at consent: answered, and the consent question again (nothing kept).
    await chat.send("are condoms free?")
    assert "section 3(2)2" in chat.replies[0]["text"], chat.replies
    assert chat.choice_ids == ["consent:yes", "consent:no"]
    await chat.pick("consent:yes")
    # At the city and the district too.
    await chat.send("Is the pregnancy checkup free?")
    assert "section 3(2)2" in chat.replies[0]["text"] and chat.choice_ids == CITIES
    await chat.pick("city:hangzhou")
    await chat.send("help")
    assert chat.choice_ids[0] == "district:xihu"
    await chat.send("menu")
    assert chat.choice_ids[0] == "district:xihu"
    await chat.pick("district:xihu")
    assert chat.choice_ids == MENU
    c = await contact(services)
    assert (c.language, c.city, c.district, c.consent) == ("en", "hangzhou", "xihu", "granted")


async def test_somewhere_else_on_telegram(tg: TgServer) -> None:
    """The same over Telegram's buttons (aiogram to the fake Bot API server)."""
    chat = 880100
    await tg.say(chat, "/start", language_code="zh-hans")
    await tg.press(chat, "lang:zh_Hans")
    answer = await tg.press(chat, "consent:yes")
    assert buttons(answer)[-1] == "city:elsewhere"
    answer = await tg.press(chat, "city:elsewhere")
    assert buttons(answer) == ["back"]
    answer = await tg.say(chat, "成都")
    assert "成都" in answer["text"] and "learn" in buttons(answer)
    answer = await tg.press(chat, "book")
    assert "深圳、广州、杭州" in answer["text"] and "learn" in buttons(answer)
    async with tg.services.db.session() as session:
        rows = (await session.exec(select(PlaceAsked))).all()
    assert [(r.city, r.name) for r in rows] == [(None, "成都")]
