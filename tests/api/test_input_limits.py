"""No input reaches the database that it cannot store, and every refusal is a 4xx in the
API's one error shape (issue #10, items 6 and 7)."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import text

from outreach.api.guard import MAX_DEPTH, too_deep
from outreach.api.params import INT32_MAX
from outreach.container import Container
from outreach.users.models import Role
from tests.factories import Chat, auth, create_token
from tests.fakes.servers import CHAT, SECRET, SmsServer, TgServer

SIM = "/api/v1/simulator/messages"


@pytest.fixture
async def admin(services: Container) -> dict[str, str]:
    return auth(await create_token(services, Role.admin))


def _is_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code, response.text


@pytest.mark.parametrize("path", [
    f"/api/v1/service-points/{INT32_MAX + 1}",
    "/api/v1/service-points/1540047944820040491073536",
    f"/api/v1/service-points/{2**63}/appointments",
    f"/api/v1/service-records?point_id={2**64}",
    f"/api/v1/service-records?offset={INT32_MAX + 1}",
    f"/api/v1/questions?offset={2**63}",
    f"/api/v1/simulator/outbox?contact=a&after={2**63}",
])
async def test_integers_beyond_the_columns_are_422(client: httpx.AsyncClient, admin: dict[str, str],
                                                    path: str) -> None:
    _is_error(await client.get(path, headers=admin), 422, "validation_error")


async def test_the_largest_id_is_a_plain_404(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    _is_error(await client.get(f"/api/v1/service-points/{INT32_MAX}", headers=admin), 404, "not_found")
    r = await client.post(f"/api/v1/appointments/{INT32_MAX}/attendance", json={"outcome": "attended"},
                          headers=admin)
    _is_error(r, 404, "not_found")


async def test_a_date_is_an_iso_date(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """Pydantic alone would read ``0`` as 1970-01-01."""
    for bad in ("0", "1700000000", "2026-13-01", "5/12/2026"):
        _is_error(await client.get(f"/api/v1/service-records?to={bad}", headers=admin), 422,
                  "validation_error")
    assert (await client.get("/api/v1/service-records?to=2026-12-05", headers=admin)).status_code == 200


async def test_nul_bytes_leave_the_text_and_the_message_is_answered(
    client: httpx.AsyncClient, services: Container
) -> None:
    chat = Chat(client, "nul\x00person")
    await chat.onboard("en")  # history is kept only with consent
    await chat.send("hel\x00lo")
    assert chat.replies
    async with services.db.begin() as uow:
        texts = (await uow.execute(text("SELECT text FROM message"))).scalars().all()
        paths = (await uow.execute(text("SELECT path FROM contact_urn"))).scalars().all()
    assert texts and all("\x00" not in t for t in texts) and "hello" in texts
    assert paths == ["nulperson"]


async def test_nul_in_a_filter_matches_nothing_instead_of_failing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.get("/api/v1/service-points?city=%00hang%00zhou", headers=admin)
    assert r.status_code == 200 and r.json() == []


async def test_nul_in_a_json_field_is_removed(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = ('{"city": "hangzhou", "district": "xihu", "slot_capacity": 2, "services": ["pregnancy_iud_checkup"],'
            ' "name": {"zh_Hans": "\\u0000点", "en": "Po\\u0000int"}, "address": {"zh_Hans": "路",'
            ' "en": "Road"}, "opening_hours": {"mon": [["08:00", "12:00"]]}}')
    r = await client.post("/api/v1/service-points", content=body,
                          headers={**admin, "content-type": "application/json"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == {"zh_Hans": "点", "en": "Point"}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
async def test_deeply_nested_json_is_400(client: httpx.AsyncClient, depth: int) -> None:
    body = '{"contact": "a", "text": "hi", "x": ' + "[" * depth + "]" * depth + "}"
    r = await client.post(SIM, content=body, headers={"content-type": "application/json"})
    _is_error(r, 400, "bad_request")


def test_depth_scan_skips_strings_and_escapes() -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert too_deep(deep.encode())
    assert not too_deep(('{"t": "' + "[" * 100 + '"}').encode())
    assert not too_deep(('{"t": "\\"' + "{" * 100 + '"}').encode())
    # The object is a level of its own.
    inner = MAX_DEPTH - 1
    assert not too_deep(('{"t": "\\\\", "u": ' + "[" * inner + "]" * inner + "}").encode())
    assert too_deep(('{"t": "\\\\", "u": ' + "[" * inner + "[]" + "]" * inner + "}").encode())


async def test_bodies_must_be_json_and_small(client: httpx.AsyncClient, services: Container) -> None:
    _is_error(await client.post(SIM, content="contact=a&text=hi",
                                headers={"content-type": "application/x-www-form-urlencoded"}),
              415, "unsupported_media_type")
    _is_error(await client.post(SIM, content=b"{not json", headers={"content-type": "application/json"}),
              400, "bad_request")
    _is_error(await client.post(SIM, content=b'{"contact": "a", "text": "\xff"}',
                                headers={"content-type": "application/json"}), 400, "bad_request")
    big = '{"contact": "a", "text": "' + "x" * services.settings.api_max_bytes + '"}'
    _is_error(await client.post(SIM, content=big, headers={"content-type": "application/json"}),
              413, "payload_too_large")
    # Within the cap but over the field's limit: the schema says so.
    _is_error(await client.post(SIM, json={"contact": "a", "text": "x" * 4097}), 422, "validation_error")


async def test_a_405_allows_every_method_of_the_path(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    r = await client.request("OPTIONS", "/api/v1/service-points", headers=admin)
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    r = await client.request("TRACE", "/api/v1/service-points/1", headers=admin)
    assert r.status_code == 405 and r.headers["allow"] == "GET, PATCH"


async def test_over_long_twilio_fields_are_400(sms_server: SmsServer) -> None:
    r = await sms_server.inbound("+8613800138000", "hello", sid="SM" + "a" * 100)
    _is_error(r, 400, "bad_request")
    params = {"MessageSid": "SM" + "b" * 100, "MessageStatus": "delivered"}
    data, headers = sms_server.signed("/webhooks/twilio/status", params)
    _is_error(await sms_server.http.post("/webhooks/twilio/status", data=data, headers=headers),
              400, "bad_request")
    r = await sms_server.inbound("+8613800138000", "x" * 1601)
    _is_error(r, 400, "bad_request")
    assert "Body (at most 1600)" in r.json()["error"]["message"]


async def test_nul_in_an_sms_is_removed_and_answered(sms_server: SmsServer) -> None:
    r = await sms_server.inbound("+8613800138000", "he\x00llo")
    assert r.status_code == 200
    async with sms_server.services.db.begin() as uow:
        bodies = (await uow.execute(text("SELECT body FROM outbox"))).scalars().all()
    assert len(bodies) == 1 and bodies[0]


async def _post(tg: TgServer, body: str | bytes, content_type: str = "application/json") -> httpx.Response:
    return await tg.http.post(tg.webhook, content=body, headers={
        "content-type": content_type, "X-Telegram-Bot-Api-Secret-Token": SECRET})


async def test_a_telegram_update_missing_a_field_is_ignored_with_200(
    tg: TgServer, caplog: pytest.LogCaptureFixture
) -> None:
    update = tg.fake.message_update(CHAT, "a secret question")
    del update["message"]["chat"]
    with caplog.at_level(logging.WARNING):
        r = await _post(tg, __import__("json").dumps(update))
    assert r.status_code == 200
    assert f"ignored Telegram update {update['update_id']}" in caplog.text
    assert "message.chat: missing" in caplog.text
    assert "secret question" not in caplog.text
    async with tg.services.db.begin() as uow:
        assert (await uow.execute(text("SELECT count(*) FROM inbox_event"))).scalar_one() == 0
    # The same chat's next, whole update is handled as usual.
    assert (await tg.say(CHAT, "hello"))["text"]


@pytest.mark.parametrize(("body", "status", "code"), [
    ("[" * 5000 + "]" * 5000, 400, "bad_request"),
    ('{"update_id": -1}', 400, "bad_request"),
    ('{"update_id": 99999999999999999999999}', 400, "bad_request"),
    ('{"update_id": "12"}', 400, "bad_request"),
    ('{"update_id": 12, "message": "hi"}', 400, "bad_request"),
    ("not json", 400, "bad_request"),
])
async def test_telegram_updates_that_are_not_updates_are_400(tg: TgServer, body: str, status: int,
                                                             code: str) -> None:
    _is_error(await _post(tg, body), status, code)


async def test_telegram_updates_are_json(tg: TgServer) -> None:
    _is_error(await _post(tg, "update_id=1", "application/x-www-form-urlencoded"), 415,
              "unsupported_media_type")


async def test_database_errors_carry_no_bound_values(services: Container,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """An error's text (what a log line would print) shows the statement, not its values."""
    phone = "+8613912345678"
    insert = text("INSERT INTO contact_urn (contact_id, scheme, path) VALUES (:c, 'tel', :p)")
    with pytest.raises(Exception) as raised:
        async with services.db.begin() as uow:
            await uow.execute(insert, {"c": 2_000_000_000, "p": phone})  # no such contact
    message = str(raised.value)
    assert phone not in message, message
