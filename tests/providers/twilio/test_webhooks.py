"""The webhook gate: nothing unverified has any effect."""

from __future__ import annotations

import logging
import httpx
import pytest
from sqlalchemy import text

from outreach.app import create_app
from outreach.container import Container, build_container
from tests.fakes.servers import SmsServer

PHONE = "+8613800138000"


async def counts(services: Container) -> tuple[int, int, int]:
    async with services.db.begin() as conn:
        found = [
            (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
            for t in ("inbox_event", "contact", "outbox")
        ]
    return found[0], found[1], found[2]


def base_params(sid: str = "SM" + "a" * 32) -> dict[str, str]:
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
            "From": PHONE, "To": "+15005550006", "Body": "hello", "NumMedia": "0"}


async def test_a_correctly_signed_webhook_is_accepted(sms_server: SmsServer) -> None:
    r = await sms_server.inbound(PHONE, "hello")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xml")
    assert "<Response" in r.text
    assert await counts(sms_server.services) == (1, 1, 1)


def forgeries(s: SmsServer) -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
    """(name, path, form, headers): each one wrong in a single way."""
    path = "/webhooks/twilio/sms"
    good = base_params()
    sig = s.fake.sign(s.base_url + path, good)
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    out = [
        ("missing header", path, good, {}),
        ("empty signature", path, good, {"X-Twilio-Signature": ""}),
        ("mutated signature", path, good, {"X-Twilio-Signature": flipped}),
        ("garbage signature", path, good, {"X-Twilio-Signature": "not base64 at all!"}),
        ("other token", path, good, {"X-Twilio-Signature": _sign_with("wrong-token", s.base_url + path, good)}),
        ("query added to URL", path + "?x=1", good, {"X-Twilio-Signature": sig}),
        ("signed for another host", path, good,
         {"X-Twilio-Signature": _sign_with(s.fake.auth_token, "https://evil.example" + path, good),
          "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}),
        ("signed for the status URL", path, good,
         {"X-Twilio-Signature": s.fake.sign(s.base_url + "/webhooks/twilio/status", good)}),
    ]
    for key in ("Body", "From", "MessageSid"):
        changed = {**good, key: good[key] + "x"}
        out.append((f"{key} changed", path, changed, {"X-Twilio-Signature": sig}))
    out.append(("parameter added", path, {**good, "Extra": "1"}, {"X-Twilio-Signature": sig}))
    out.append(("parameter removed", path, {k: v for k, v in good.items() if k != "NumMedia"},
                {"X-Twilio-Signature": sig}))
    return out


def _sign_with(token: str, url: str, params: dict[str, str]) -> str:
    from twilio.request_validator import RequestValidator

    return str(RequestValidator(token).compute_signature(url, params))


async def test_forgeries_are_refused_and_have_no_effect(sms_server: SmsServer) -> None:
    s = sms_server
    accepted = []
    for name, path, form, headers in forgeries(s):
        r = await s.http.post(path, data=form, headers=headers)
        if r.status_code != 403:
            accepted.append((name, r.status_code))
        else:
            assert r.json()["error"]["code"] == "forbidden"
    assert accepted == []
    assert await counts(s.services) == (0, 0, 0)
    assert s.fake.messages == []


async def test_forged_status_callbacks_are_refused(sms_server: SmsServer) -> None:
    s = sms_server
    params = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered"}
    r = await s.http.post("/webhooks/twilio/status", data=params)
    assert r.status_code == 403


async def test_only_form_data_under_the_cap(sms_server: SmsServer) -> None:
    s = sms_server
    params = base_params()
    sig = s.fake.sign(s.base_url + "/webhooks/twilio/sms", params)
    r = await s.http.post("/webhooks/twilio/sms", json=params, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 415
    big = {**params, "Body": "x" * 20_000}
    sig = s.fake.sign(s.base_url + "/webhooks/twilio/sms", big)
    r = await s.http.post("/webhooks/twilio/sms", data=big, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 413 and "bytes" in r.json()["error"]["message"]
    assert await counts(s.services) == (0, 0, 0)


async def test_an_invalid_sender_number_is_rejected(sms_server: SmsServer) -> None:
    r = await sms_server.inbound("12", "hello")
    assert r.status_code == 400 and "phone number" in r.json()["error"]["message"]


async def test_local_numbers_are_stored_in_e164(sms_server: SmsServer) -> None:
    s = sms_server
    assert (await s.inbound("13800138000", "hello")).status_code == 200
    async with s.services.db.begin() as conn:
        path = (await conn.execute(text("SELECT path FROM contact_urn"))).scalar_one()
    assert path == PHONE


async def test_logs_carry_no_phone_number_or_body(sms_server: SmsServer, caplog: pytest.LogCaptureFixture) -> None:
    s = sms_server
    caplog.set_level(logging.DEBUG)
    secret = "my private question about contraception"
    sid = "SM" + "c" * 32
    await s.inbound(PHONE, secret, sid)
    await s.inbound(PHONE, secret, sid)          # a duplicate is logged
    await s.services.dispatcher.drain_once()
    await s.inbound(PHONE, "x", None)            # logged as rejected?
    await s.http.post("/webhooks/twilio/sms", data=base_params(), headers={"X-Twilio-Signature": "bad"})
    text_ = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "something was logged"
    for needle in (PHONE, PHONE[1:], "13800138000", secret):
        assert needle not in text_


async def test_channel_off_without_credentials(services: Container) -> None:
    settings = services.settings.model_copy(update={"twilio_auth_token": None})
    off = build_container(settings, library=services.library, regions=services.regions)
    try:
        app = create_app(settings, off)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            for path in ("/webhooks/twilio/sms", "/webhooks/twilio/status"):
                r = await c.post(path, data=base_params())
                assert r.status_code == 503
                assert "OUTREACH_TWILIO_AUTH_TOKEN" in r.json()["error"]["message"]
    finally:
        await off.close()


async def test_channel_off_is_said_once_in_the_log(
    services: Container, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = services.settings.model_copy(
        update={"twilio_auth_token": "t", "twilio_account_sid": "AC1", "public_base_url": None}
    )
    off = build_container(settings, library=services.library, regions=services.regions)
    app = create_app(settings, off)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            for _ in range(3):
                assert (await c.post("/webhooks/twilio/sms", data=base_params())).status_code == 503
    lines = [r.getMessage() for r in caplog.records if "channel off" in r.getMessage()]
    assert lines == [
        "SMS channel off: set OUTREACH_TWILIO_FROM or OUTREACH_TWILIO_MESSAGING_SERVICE_SID, "
        "OUTREACH_PUBLIC_BASE_URL",
        "Telegram channel off: set OUTREACH_TELEGRAM_TOKEN",
    ]
