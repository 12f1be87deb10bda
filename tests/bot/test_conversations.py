"""Scripted conversations through the full stack (simulator API → bot → database)."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import func, select

from outreach.contacts.models import ConsentEvent, Contact, Message
from outreach.questions.models import UnansweredQuestion
from outreach.quizzes.models import AttemptStatus, QuizAnswer, QuizAttempt
from outreach.container import Container
from tests.factories import CJK, Chat

MENU = ["learn", "ask", "quiz", "book", "appts", "lang", "stop"]


async def count(services: Container, model: type, *where: object) -> int:
    async with services.db.session() as session:
        return (await session.exec(select(func.count()).select_from(model).where(*where))).one()


async def test_first_contact_is_bilingual_and_offers_languages(client: httpx.AsyncClient) -> None:
    chat = Chat(client, "new-1")
    await chat.send("hi")
    assert CJK.search(chat.text) and "Hello" in chat.text
    assert chat.choice_ids == ["lang:zh_Hans", "lang:en"]


@pytest.mark.parametrize("language", ["zh_Hans", "en"])
async def test_onboarding(client: httpx.AsyncClient, services: Container, language: str) -> None:
    chat = Chat(client, f"onboard-{language}")
    await chat.send("你好")
    await chat.pick(f"lang:{language}")
    assert chat.choice_ids == ["consent:yes", "consent:no"]
    assert bool(CJK.search(chat.text)) == (language == "zh_Hans")
    await chat.pick("consent:yes")
    assert "city:shenzhen" in chat.choice_ids
    await chat.pick_number("city:guangzhou")
    assert chat.choice_ids == ["district:tianhe", "district:baiyun", "district:panyu",
                              "district:elsewhere"]
    await chat.pick("district:baiyun")
    # Only features that exist are offered.
    assert chat.choice_ids == MENU
    async with services.db.session() as session:
        contact = (await session.exec(select(Contact))).one()
    assert (contact.language, contact.city, contact.district, contact.consent) == (
        language, "guangzhou", "baiyun", "granted",
    )
    assert await count(services, ConsentEvent, ConsentEvent.kind == "granted") == 1


async def test_declining_consent_keeps_only_the_refusal(client: httpx.AsyncClient, services: Container) -> None:
    chat = Chat(client, "decliner")
    await chat.send("hello")
    await chat.pick("lang:en")
    await chat.pick("consent:no")
    assert chat.choice_ids == []
    async with services.db.session() as session:
        contact = (await session.exec(select(Contact))).one()
    assert contact.consent == "declined"
    assert (contact.language, contact.city, contact.district) == (None, None, None)
    assert await count(services, Message) == 0
    assert await count(services, ConsentEvent, ConsentEvent.kind == "declined") == 1
    # Writing again starts over, in both languages.
    await chat.send("hello again")
    assert chat.choice_ids == ["lang:zh_Hans", "lang:en"]


@pytest.mark.parametrize("language", ["zh_Hans", "en"])
async def test_learn_a_lesson_with_its_source(client: httpx.AsyncClient, language: str) -> None:
    chat = Chat(client, f"learner-{language}")
    await chat.onboard(language)
    await chat.pick("learn")
    topics = [c for c in chat.choice_ids if c.startswith("topic:")]
    assert {"topic:births", "topic:mother_child", "topic:unplanned", "topic:leave",
            "topic:education", "topic:family_planning", "topic:healthy_pregnancy",
            "topic:reproductive_health", "topic:rights", "topic:where"} <= set(topics)
    await chat.pick("topic:family_planning")
    lessons = [c for c in chat.choice_ids if c.startswith("lesson:")]
    assert len(lessons) >= 2
    await chat.pick(lessons[0])
    source = "依据：人口流管〔2010〕69号 三(二)2" if language == "zh_Hans" else (
        "Source: 2010 guidance No. 69, section 3(2)2")
    assert source in chat.text
    # English has no Chinese at all, so an English SMS stays GSM-7.
    assert bool(CJK.search(chat.text)) == (language == "zh_Hans")
    assert chat.choice_ids == ["next", "topics", "menu"]
    await chat.pick("next")
    assert chat.choice_ids[-2:] == ["topics", "menu"]
    await chat.pick("menu")
    assert chat.choice_ids == MENU


@pytest.mark.parametrize(
    ("language", "question"),
    [("zh_Hans", "在这边领避孕套要花钱吗"), ("en", "do I have to pay for contraceptives?")],
)
async def test_ask_gets_an_faq_answer(client: httpx.AsyncClient, services: Container, language: str, question: str) -> None:
    chat = Chat(client, f"asker-{language}")
    await chat.onboard(language)
    await chat.pick("ask")
    await chat.send(question)
    assert ("三(二)2" if language == "zh_Hans" else "section 3(2)2") in chat.text
    assert chat.choice_ids == ["menu"]
    assert await count(services, UnansweredQuestion) == 0


async def test_free_text_at_the_menu_is_a_question(client: httpx.AsyncClient) -> None:
    chat = Chat(client, "menu-asker")
    await chat.onboard("zh_Hans")
    await chat.send("我没有带户口本，还能免费检查吗？")
    assert "依据" in chat.text


@pytest.mark.parametrize("language", ["zh_Hans", "en"])
async def test_unanswerable_question_is_recorded(client: httpx.AsyncClient, services: Container, language: str) -> None:
    chat = Chat(client, f"stumper-{language}")
    await chat.onboard(language)
    await chat.pick("ask")
    await chat.send("what is the price of bitcoin" if language == "en" else "今天股票涨了吗")
    assert chat.choice_ids == ["menu"]
    assert await count(services, UnansweredQuestion) == 1


@pytest.mark.parametrize("language", ["zh_Hans", "en"])
async def test_quiz_scores_and_logs_every_answer(client: httpx.AsyncClient, services: Container, language: str) -> None:
    chat = Chat(client, f"quizzer-{language}")
    await chat.onboard(language)
    await chat.pick("quiz")
    seen = []
    for i in range(5):
        options = [c for c in chat.choice_ids if c.startswith("opt:")]
        assert len(options) >= 2, chat.replies
        seen.append(chat.text)
        # Alternate label and number picks.
        await (chat.pick(options[0]) if i % 2 else chat.pick_number(options[0]))
        assert ("依据：" if language == "zh_Hans" else "Source: ") in chat.text
    assert chat.choice_ids == MENU
    assert ("You got" in chat.text) == (language == "en")
    assert ("答对了" in chat.text) == (language == "zh_Hans")
    async with services.db.session() as session:
        attempt = (await session.exec(select(QuizAttempt))).one()
        answers = (await session.exec(select(QuizAnswer))).all()
    assert attempt.status == AttemptStatus.completed and attempt.n_questions == 5
    assert len(answers) == 5 and len({a.question_id for a in answers}) == 5
    assert attempt.n_correct == sum(a.correct for a in answers)
    assert attempt.score == attempt.n_correct / 5


async def test_abandoned_quiz_is_kept_unscored(client: httpx.AsyncClient, services: Container) -> None:
    chat = Chat(client, "quitter")
    await chat.onboard("en")
    await chat.pick("quiz")
    await chat.send("1")
    await chat.send("MENU")
    assert chat.choice_ids == MENU
    async with services.db.session() as session:
        attempt = (await session.exec(select(QuizAttempt))).one()
    assert attempt.status == AttemptStatus.abandoned and attempt.score is None
    assert await count(services, QuizAnswer) == 1


@pytest.mark.parametrize(("stop", "start"), [("STOP", "START"), ("退订", "订阅"), ("ｔｄ", "start"), ("Stop.", "Start")])
async def test_stop_then_silence_until_start(client: httpx.AsyncClient, services: Container, stop: str, start: str) -> None:
    chat = Chat(client, "stopper")
    await chat.onboard("en")
    await chat.send(stop)
    assert len(chat.replies) == 1 and "START" in chat.text
    for text in ["hello", "MENU", "HELP", "1", stop]:
        assert await chat.send(text) == []
    await chat.send(start)
    assert "Welcome back" in chat.text and chat.choice_ids == MENU
    kinds = [e.kind for e in (await _events(services))]
    assert kinds == ["granted", "opted_out", "opted_in"]


async def _events(services: Container) -> list[ConsentEvent]:
    async with services.db.session() as session:
        return list((await session.exec(select(ConsentEvent).order_by(ConsentEvent.id))).all())


async def test_stop_from_the_menu_button(client: httpx.AsyncClient) -> None:
    chat = Chat(client, "button-stopper")
    await chat.onboard("zh_Hans")
    await chat.pick("stop")
    assert "订阅" in chat.text
    assert await chat.send("你好") == []


async def test_stop_before_onboarding(client: httpx.AsyncClient) -> None:
    chat = Chat(client, "early-stopper")
    await chat.send("STOP")
    assert "START" in chat.text and CJK.search(chat.text)
    assert await chat.send("hi") == []
    await chat.send("START")
    assert chat.choice_ids == ["lang:zh_Hans", "lang:en"]


async def test_language_switch_anywhere(client: httpx.AsyncClient) -> None:
    chat = Chat(client, "switcher")
    await chat.onboard("en")
    await chat.pick("quiz")
    await chat.send("语言")
    assert chat.choice_ids == ["lang:zh_Hans", "lang:en"]
    await chat.pick("lang:zh_Hans")
    assert "中文" in chat.text and chat.choice_ids == MENU
    await chat.send("LANG")
    await chat.send("2")
    assert "English" in chat.text


async def test_language_switch_during_onboarding_resumes_it(client: httpx.AsyncClient) -> None:
    chat = Chat(client, "early-switcher")
    await chat.send("hi")
    await chat.pick("lang:en")
    await chat.send("lang")
    await chat.pick("lang:zh_Hans")
    assert chat.choice_ids == ["consent:yes", "consent:no"] and CJK.search(chat.text)


async def test_help_and_menu_keywords(client: httpx.AsyncClient) -> None:
    chat = Chat(client, "helper")
    await chat.onboard("en")
    await chat.pick("learn")
    await chat.send("help")
    assert "MENU" in chat.text and "STOP" in chat.text
    assert "topic:education" in chat.choice_ids  # the current question again
    await chat.send("ｍｅｎｕ")
    assert chat.choice_ids == MENU
    await chat.send("帮助")
    assert "MENU" in chat.text


async def test_menu_before_onboarding_resumes_it(client: httpx.AsyncClient) -> None:
    chat = Chat(client, "early-menu")
    await chat.send("hi")
    await chat.pick("lang:zh_Hans")
    await chat.send("菜单")
    assert chat.choice_ids == ["consent:yes", "consent:no"]


@pytest.mark.parametrize(
    "bad",
    # 4,096 characters: the longest message a channel delivers (Telegram's limit).
    ["", "   ", "x" * 4096, "中" * 4096, "👍🎉🙏", "9", "0", "42", "?!"],
    ids=["empty", "spaces", "4k-latin", "4k-cjk", "emoji", "unknown-9", "zero", "42", "punctuation"],
)
@pytest.mark.parametrize("step", ["onboarding", "menu", "quiz"])
async def test_bad_input_gets_a_clear_reprompt(client: httpx.AsyncClient, services: Container, bad: str, step: str) -> None:
    chat = Chat(client, f"bad-{step}")
    if step == "onboarding":
        await chat.send("hi")
        await chat.pick("lang:en")
    else:
        await chat.onboard("en")
        if step == "quiz":
            await chat.pick("quiz")
    before = chat.choice_ids
    await chat.send(bad)
    assert len(chat.replies) == 1
    assert chat.choice_ids == before, "the same question is asked again"
    assert any(w in chat.text for w in ("did not understand", "did not receive", "too long"))
    assert await count(services, UnansweredQuestion) == 0


async def test_bad_input_in_chinese(client: httpx.AsyncClient) -> None:
    chat = Chat(client, "bad-zh")
    await chat.onboard("zh_Hans")
    await chat.send("9")
    assert "没有看懂" in chat.text and chat.choice_ids == MENU


async def test_simulator_validates_input(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/simulator/messages", json={"contact": "", "text": "hi"})
    assert r.status_code == 422 and "contact" in r.json()["error"]["message"]
    r = await client.post("/api/v1/simulator/messages", json={"text": "hi"})
    assert r.status_code == 422
    r = await client.post("/api/v1/simulator/messages", content=b"not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    r = await client.post("/api/v1/simulator/messages", json={"contact": "a", "text": "x" * 4097})
    assert r.status_code == 422 and "text" in r.json()["error"]["message"]


async def test_messages_are_kept_only_after_consent(client: httpx.AsyncClient, services: Container) -> None:
    chat = Chat(client, "history")
    await chat.send("hi")
    await chat.pick("lang:en")
    assert await count(services, Message) == 0
    await chat.pick("consent:yes")
    assert await count(services, Message) >= 2
