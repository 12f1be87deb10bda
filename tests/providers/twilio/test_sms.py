"""SMS over Twilio, end to end: signed webhooks in, the real Twilio SDK out to a fake."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import pytest
from sqlalchemy import text

from content import segments
from outreach.providers.twilio import SmsRender
from outreach.container import Container, build_container
from tests.fakes.servers import SmsServer, sms_settings
from tests.fakes.twilio import Fault

PHONE_ZH = "+8613800138000"
PHONE_EN = "+8613900139000"
CJK = re.compile(r"[\u4e00-\u9fff]")


async def scalar(services: Container, sql: str, **params: Any) -> Any:
    async with services.db.begin() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


def numbered(body: str) -> list[str]:
    return re.findall(r"^(\d+)\. (.+)$", body, flags=re.M)


@pytest.mark.parametrize(("phone", "language"), [(PHONE_ZH, "zh_Hans"), (PHONE_EN, "en")])
async def test_full_conversation_over_sms(sms_server: SmsServer, phone: str, language: str) -> None:
    s = sms_server
    text_ = await s.converse(phone, "你好" if language == "zh_Hans" else "hello")
    assert ("1. 中文", ) == tuple(f"{n}. {l}" for n, l in numbered(text_))[:1]
    text_ = await s.converse(phone, "１" if language == "zh_Hans" else "English")
    assert bool(CJK.search(text_.split("\n\n")[0])) == (language == "zh_Hans")
    text_ = await s.converse(phone, "同意" if language == "zh_Hans" else "yes")   # consent by word
    text_ = await s.converse(phone, "一")                                      # a city by Chinese numeral
    text_ = await s.converse(phone, "2")                                       # a district
    menu = dict(numbered(text_))
    assert len(menu) == 7
    text_ = await s.converse(phone, "1")                                       # learn
    text_ = await s.converse(phone, "6")                                       # family planning
    text_ = await s.converse(phone, "1")                                       # first lesson
    assert ("三(二)2" if language == "zh_Hans" else "section 3(2)2") in text_
    text_ = await s.converse(phone, "菜单" if language == "zh_Hans" else "MENU")
    text_ = await s.converse(phone, "3")                                       # quiz
    for _ in range(5):
        assert numbered(text_), text_
        text_ = await s.converse(phone, "1")
    assert ("答对了" in text_) == (language == "zh_Hans") and ("You got" in text_) == (language == "en")
    # Every SMS within the segment budget, its encoding and count stored and as Twilio counts.
    async with s.services.db.begin() as conn:
        rows = (await conn.execute(text(
            "SELECT body, encoding, segments, status, provider_sid FROM outbox WHERE address = :a"
        ), {"a": phone})).all()
    assert rows
    for body, encoding, count, status, sid in rows:
        info = segments(body)
        assert (encoding, count) == (info.encoding, info.segments)
        assert 1 <= count <= 3
        assert status == "queued" and sid.startswith("SM")
    assert all(int(m["num_segments"]) <= 3 for m in s.sent_to(phone))


@pytest.mark.background_dispatcher
async def test_the_running_app_sends_replies_on_its_own(sms_server: SmsServer) -> None:
    s = sms_server
    assert (await s.inbound(PHONE_ZH, "你好")).status_code == 200
    sent = await s.wait_sent(PHONE_ZH, 1)
    assert "中文" in sent[0]["body"] and "English" in sent[0]["body"]


async def test_long_lesson_is_split_at_sentences(sms_server: SmsServer) -> None:
    s = sms_server
    render = s.services.channels["sms"].render
    assert isinstance(render, SmsRender)
    render.max_segments = 1
    for body in ["hi", "1", "1", "1", "1", "1", "6"]:   # zh, consent, city, district, learn, rights
        await s.converse(PHONE_ZH, body)
    before = len(s.sent_to(PHONE_ZH))
    await s.converse(PHONE_ZH, "1")                      # its first lesson: several SMS
    parts = [m["body"] for m in s.sent_to(PHONE_ZH)[before:]]
    assert len(parts) > 1
    assert all(segments(p).segments == 1 for p in parts)
    assert all(p.endswith(("。", "！", "？", "”")) for p in parts[:-1]), parts


async def test_status_callbacks_move_forward_only(sms_server: SmsServer) -> None:
    s = sms_server
    await s.converse(PHONE_EN, "hello")
    sid = s.sent_to(PHONE_EN)[0]["sid"]
    assert await s.fake.send_status_async(sid, "sent") == 204
    assert await s.fake.send_status_async(sid, "delivered") == 204
    assert await s.fake.send_status_async(sid, "sent") == 204        # late, out of order
    assert await s.fake.send_status_async(sid, "delivered") == 204   # repeated
    status = await scalar(s.services, "SELECT status FROM outbox WHERE provider_sid = :s", s=sid)
    assert status == "delivered"
    # An unknown sid is acknowledged and ignored; a forged callback is refused.
    params = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "failed"}
    data, headers = s.signed("/webhooks/twilio/status", params)
    assert (await s.http.post("/webhooks/twilio/status", data=data, headers=headers)).status_code == 204
    params = {"MessageSid": sid, "MessageStatus": "failed"}
    r = await s.http.post("/webhooks/twilio/status", data=params, headers={"X-Twilio-Signature": "bad"})
    assert r.status_code == 403
    assert await scalar(s.services, "SELECT status FROM outbox WHERE provider_sid = :s", s=sid) == "delivered"


async def test_undelivered_with_21610_opts_out(sms_server: SmsServer) -> None:
    s = sms_server
    await s.converse(PHONE_EN, "hello")
    sid = s.sent_to(PHONE_EN)[0]["sid"]
    await s.fake.send_status_async(sid, "undelivered", error_code=21610)
    assert await scalar(s.services, "SELECT opted_out FROM contact") in (True, 1)


@pytest.mark.parametrize("word", ["STOP", "stopall", "Unsubscribe", "CANCEL", "end", "quit", "退订", "ＴＤ", "取消订阅"])
async def test_opt_out_words_then_silence(sms_server: SmsServer, word: str) -> None:
    s = sms_server
    await s.converse(PHONE_EN, "hello")
    confirmation = await s.converse(PHONE_EN, word)
    assert "START" in confirmation
    sent = len(s.sent_to(PHONE_EN))
    for body in ["hello", "MENU", "1", "HELP"]:
        assert (await s.inbound(PHONE_EN, body)).status_code == 200
    await s.services.dispatcher.drain_once()
    assert len(s.sent_to(PHONE_EN)) == sent
    assert await scalar(s.services, "SELECT count(*) FROM consent_event WHERE kind = 'opted_out'") == 1


@pytest.mark.parametrize("word", ["START", "yes", "UNSTOP", "订阅"])
async def test_opt_in_words(sms_server: SmsServer, word: str) -> None:
    s = sms_server
    await s.converse(PHONE_EN, "STOP")
    back = await s.converse(PHONE_EN, word)
    assert back, "a welcome back"
    assert await scalar(s.services, "SELECT opted_out FROM contact") in (False, 0)


@pytest.mark.parametrize("word", ["HELP", "info", "帮助"])
async def test_help_words_say_who_is_texting(sms_server: SmsServer, word: str) -> None:
    s = sms_server
    text_ = await s.converse(PHONE_ZH, word)
    assert "health workers" in text_ or "工作人员" in text_


async def test_provider_opt_out_21610_silences_every_channel(sms_server: SmsServer) -> None:
    s = sms_server
    s.fake.inject(Fault.opted_out())
    assert (await s.inbound(PHONE_EN, "hello")).status_code == 200
    await s.services.dispatcher.drain_once()
    row = (await _outbox(s))[0]
    assert row["status"] == "dead" and row["error_code"] == 21610
    assert await scalar(s.services, "SELECT opted_out FROM contact") in (True, 1)
    assert await scalar(s.services, "SELECT channel FROM consent_event WHERE kind = 'opted_out'") == "sms"


async def _outbox(s: SmsServer) -> list[dict[str, Any]]:
    async with s.services.db.begin() as conn:
        return [dict(r._mapping) for r in (await conn.execute(text("SELECT * FROM outbox ORDER BY id"))).all()]


async def _drain_until_settled(s: SmsServer, rounds: int = 20) -> None:
    """Run the dispatcher, skipping the backoff waits (due times pulled to now)."""
    for _ in range(rounds):
        async with s.services.db.begin() as conn:
            await conn.execute(text("UPDATE outbox SET due_at = created_at WHERE status IN ('pending', 'unknown')"))
        await s.services.dispatcher.drain_once()
        rows = await _outbox(s)
        if all(r["status"] not in ("pending", "unknown", "sending") for r in rows):
            return


@pytest.mark.parametrize("fault", [Fault.too_many(), Fault.server_error(), Fault.error(429, 20429, "Too Many Requests")])
async def test_retryable_errors_are_retried(sms_server: SmsServer, fault: Fault) -> None:
    s = sms_server
    s.fake.inject(fault, fault)
    await s.inbound(PHONE_EN, "hello")
    await _drain_until_settled(s)
    row = (await _outbox(s))[0]
    assert row["status"] == "queued" and row["attempts"] == 3
    assert len(s.sent_to(PHONE_EN)) == 1


async def test_retries_are_bounded(sms_server: SmsServer) -> None:
    """Twilio answers 500 to every send to one number while it sends the others' (so the
    failures are that message's, not an outage's): dead-lettered after the last attempt."""
    s = sms_server
    s.fake.inject(*[Fault.server_error().for_to(PHONE_EN)] * 10)
    await s.inbound(PHONE_EN, "hello")
    for _ in range(10):
        await s.inbound(PHONE_ZH, "hello")  # someone else's reply between the tries
        async with s.services.db.begin() as conn:
            await conn.execute(text("UPDATE outbox SET due_at = created_at WHERE status = 'pending'"))
        await s.services.dispatcher.drain_once()
        if all(r["status"] != "pending" for r in await _outbox(s)):
            break
    row = (await _outbox(s))[0]
    assert row["status"] == "dead" and row["attempts"] == s.services.settings.send_max_attempts
    assert "gave up after 6 attempts" in row["error"] and "500" in row["error"]
    assert s.sent_to(PHONE_EN) == []
    assert s.services.dispatcher.paused_until("sms") is None
    s.fake.reset()


async def test_a_lone_message_failing_in_a_row_pauses_the_channel_not_the_message(
    sms_server: SmsServer,
) -> None:
    """Three 500s in a row, nothing else getting through: that is the provider being down,
    not the message being bad. The channel pauses (nothing is claimed meanwhile) and the
    third failure does not count as the message's attempt."""
    s = sms_server
    s.fake.inject(*[Fault.server_error()] * 10)
    await s.inbound(PHONE_EN, "hello")
    await _drain_until_settled(s, rounds=5)
    rows = await _outbox(s)
    assert len(rows) == 1 and rows[0]["status"] == "pending" and rows[0]["attempts"] == 2
    assert s.services.dispatcher.paused_until("sms") is not None
    assert len(s.fake.requests) == 3  # and no more while paused
    assert await s.services.dispatcher.drain_once() == 0
    s.fake.reset()


@pytest.mark.parametrize("fault", [Fault.timeout(2.0, accept=True), Fault.accept_then_drop()])
@pytest.mark.parametrize("dedupes", [True, False], ids=["provider-dedupes", "real-twilio"])
async def test_an_unknown_outcome_is_asked_about_not_sent_twice(
    sms_server: SmsServer, fault: Fault, dedupes: bool
) -> None:
    """The message was created but its answer was lost. Before retrying, the dispatcher
    lists Twilio's messages to that number, finds it, and records it instead of sending
    again: one request, one message, even on a provider that ignores idempotency keys."""
    s = sms_server
    s.fake.honour_idempotency = dedupes
    s.fake.inject(fault)
    await s.inbound(PHONE_EN, "hello")
    await s.services.dispatcher.drain_once()
    row = (await _outbox(s))[0]
    assert row["status"] == "unknown" and row["error"]
    await _drain_until_settled(s)
    row = (await _outbox(s))[0]
    assert row["status"] == "queued" and s.fake.lookups >= 1
    assert [r.header("I-Twilio-Idempotency-Token") for r in s.fake.requests] == [row["idempotency_key"]]
    assert len(s.sent_to(PHONE_EN)) == 1
    assert row["provider_sid"] == s.sent_to(PHONE_EN)[0]["sid"]


async def test_an_unknown_outcome_not_found_at_the_provider_is_sent_again(sms_server: SmsServer) -> None:
    """The request never created a message (a timeout answered 500 late): the list has
    nothing, so it is sent again, with the same key."""
    s = sms_server
    s.fake.inject(Fault.timeout(2.0, accept=False))
    await s.inbound(PHONE_EN, "hello")
    await s.services.dispatcher.drain_once()
    assert (await _outbox(s))[0]["status"] == "unknown"
    await _drain_until_settled(s)
    row = (await _outbox(s))[0]
    assert row["status"] == "queued" and s.fake.lookups >= 1
    assert [r.header("I-Twilio-Idempotency-Token") for r in s.fake.requests] == [row["idempotency_key"]] * 2
    assert [m["sid"] for m in s.sent_to(PHONE_EN)] == [row["provider_sid"]]


async def test_a_message_with_the_same_text_sent_by_another_row_is_not_taken_for_it(
    sms_server: SmsServer,
) -> None:
    """The lookup matches on recipient and text; a message already recorded on another
    row (the same menu, asked twice) is not this row's."""
    s = sms_server
    s.fake.honour_idempotency = False
    await s.inbound(PHONE_EN, "hello")
    await _drain_until_settled(s)
    first = (await _outbox(s))
    # The same replies again, and the sends' answers lost after Twilio created them.
    s.fake.inject(*[Fault.accept_then_drop()] * len(first))
    async with s.services.db.begin() as conn:
        await conn.execute(text(
            "INSERT INTO outbox (idempotency_key, contact_id, channel, address, purpose, body, "
            "choices, encoding, segments, status, attempts, due_at, created_at, updated_at) "
            "SELECT idempotency_key || '-again', contact_id, channel, address, purpose, body, "
            "choices, encoding, segments, 'unknown', 1, due_at, created_at, updated_at FROM outbox"))
    await _drain_until_settled(s)
    rows = await _outbox(s)
    sids = [r["provider_sid"] for r in rows]
    assert all(sids) and len(set(sids)) == len(rows)  # each row its own message
    assert len(s.sent_to(PHONE_EN)) == len(rows)


async def test_permanent_error_fails_at_once(sms_server: SmsServer) -> None:
    s = sms_server
    s.fake.inject(Fault.error(400, 21211, "Invalid 'To' Phone Number"))
    await s.inbound(PHONE_EN, "hello")
    await s.services.dispatcher.drain_once()
    row = (await _outbox(s))[0]
    assert row["status"] == "dead" and row["error_code"] == 21211 and row["attempts"] == 1


async def test_replies_survive_a_crash_after_the_acknowledgement(
    sms_server: SmsServer, db_url: str, library: Any, regions: Any
) -> None:
    s = sms_server
    await s.services.worker.stop()              # the process "dies" before sending
    assert (await s.inbound(PHONE_EN, "hello")).status_code == 200
    # A send that was in flight when the process died: its lease expires.
    async with s.services.db.begin() as conn:
        await conn.execute(text(
            "UPDATE outbox SET status = 'sending', attempts = 1, lease_until = created_at"
        ))
    assert s.sent_to(PHONE_EN) == []
    restarted = build_container(sms_settings(db_url, s.base_url, s.fake), library=library, regions=regions)
    try:
        await restarted.dispatcher.drain_once()
    finally:
        await restarted.close()
    sent = s.sent_to(PHONE_EN)
    assert len(sent) == 1 and "Hello" in sent[0]["body"]
    assert s.fake.requests[0].header("I-Twilio-Idempotency-Token") == (await _outbox(s))[0]["idempotency_key"]


@pytest.mark.slow
async def test_replay_1000_webhooks_has_no_duplicate_effects(sms_server: SmsServer) -> None:
    """1,000 inbound messages from 100 people, each delivered 1–3 times, duplicates often
    concurrently: every message has exactly one effect."""
    s = sms_server
    rng = random.Random(42)
    phones = [f"+86137{n:08d}" for n in range(100)]
    script = ["hi", "2", "1", "1", "1", "1", "1", "1", "menu", "is the checkup free?"]
    deliveries: list[list[tuple[str, str, str]]] = [[] for _ in phones]
    for step, body in enumerate(script):
        for i, phone in enumerate(phones):
            sid = f"SM{i:08d}{step:024d}"
            copies = rng.randint(1, 3)
            deliveries[i].append((sid, body, str(copies)))

    async def person(i: int) -> None:
        for sid, body, copies in deliveries[i]:
            n = int(copies)
            if rng.random() < 0.5:
                results = await asyncio.gather(*(s.inbound(phones[i], body, sid) for _ in range(n)))
            else:
                results = [await s.inbound(phones[i], body, sid) for _ in range(n)]
            assert all(r.status_code == 200 for r in results)

    await asyncio.gather(*(person(i) for i in range(len(phones))))
    total = len(phones) * len(script)
    assert await scalar(s.services, "SELECT count(*) FROM inbox_event") == total
    # Each person consented at step 3, so steps 3.. are in the message log once each.
    inbound = await scalar(s.services, "SELECT count(*) FROM message WHERE direction = 'in'")
    assert inbound == len(phones) * (len(script) - 2)
    # Every person is at the same point of the conversation: no step ran twice.
    states = await _states(s)
    assert len(states) == len(phones) and len(set(states)) == 1
    # The outbox has the replies of exactly one processing per message.
    keys = await _keys(s)
    assert len(keys) == len(set(keys))
    per_message = {k.rsplit(":", 1)[0] for k in keys}
    assert len(per_message) == total
    await _drain_until_settled(s, rounds=50)
    assert len(s.fake.messages) == len(keys)


async def _states(s: SmsServer) -> list[str]:
    async with s.services.db.begin() as conn:
        return [str(r[0]) for r in (await conn.execute(text("SELECT dialog FROM contact"))).all()]


async def _keys(s: SmsServer) -> list[str]:
    async with s.services.db.begin() as conn:
        return [r[0] for r in (await conn.execute(text("SELECT idempotency_key FROM outbox"))).all()]
