"""Twilio webhooks: inbound SMS and delivery-status callbacks.

Every request is checked before anything else: the channel must be on, the body must be
form data under the size cap, and ``X-Twilio-Signature`` must match the URL Twilio was
configured with — rebuilt from OUTREACH_PUBLIC_BASE_URL, never from Host or X-Forwarded-*
headers, which a caller controls.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from outreach.errors import (
    BadRequest,
    Forbidden,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from outreach.messages.dispatcher import apply_status
from outreach.api.body import read_capped
from outreach.phones import InvalidPhoneNumber, mask, normalize
from outreach.services import Services

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])


async def verified_form(request: Request) -> dict[str, str]:
    services: Services = request.app.state.services
    channel = services.sms
    if not channel.enabled:
        raise ServiceUnavailable(channel.describe_off())
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("Twilio webhooks are form-encoded (application/x-www-form-urlencoded).")
    body = await read_capped(request, services.settings.inbound_max_bytes)
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError as exc:
        raise BadRequest("The form body is not UTF-8.") from exc
    url = channel.public_base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not channel.validate(url, params, request.headers.get("x-twilio-signature", "")):
        log.warning("rejected a Twilio webhook with a missing or wrong signature on %s", request.url.path)
        raise Forbidden("Invalid or missing X-Twilio-Signature.")
    return params


@router.post("/sms", response_class=Response, responses={200: {"content": {"application/xml": {}}}})
async def inbound_sms(request: Request) -> Response:
    """An SMS from a migrant (Twilio's inbound message webhook)."""
    params = await verified_form(request)
    services: Services = request.app.state.services
    sid = params.get("MessageSid") or params.get("SmsSid")
    if not sid:
        raise BadRequest("MessageSid is missing.")
    try:
        phone = normalize(params.get("From", ""), services.settings.default_region)
    except InvalidPhoneNumber as exc:
        raise BadRequest(f"From is not a valid phone number: {exc}") from exc
    new = await services.sms_inbound.receive(sid, phone, params.get("Body", ""))
    if not new:
        log.info("duplicate inbound SMS %s from %s ignored", sid, mask(phone))
    return Response(services.sms.empty_twiml(), media_type="application/xml")


@router.post("/status", response_class=Response)
async def status_callback(request: Request) -> Response:
    """Delivery status of a message we sent (Twilio's StatusCallback)."""
    params = await verified_form(request)
    services: Services = request.app.state.services
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if not sid or not status:
        raise BadRequest("MessageSid and MessageStatus are required.")
    code_raw = params.get("ErrorCode") or ""
    error_code = int(code_raw) if code_raw.isdigit() else None
    if not await apply_status(services.conversations.writer, services.db.dialect, sid, status, error_code):
        log.debug("status %s for %s changed nothing (unknown, repeated or late)", status, sid)
    return Response(status_code=204)
