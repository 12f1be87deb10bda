"""Twilio webhooks: inbound SMS and delivery-status callbacks.

Every request is checked before anything else: the channel must be on, the body must be
form data under the size cap, and ``X-Twilio-Signature`` must match the URL Twilio was
configured with — rebuilt from OUTREACH_PUBLIC_BASE_URL, never from Host or X-Forwarded-*
headers, which a caller controls.

The routes are built with what they use (``router(...)``), not from a container.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from outreach.api.body import read_capped
from outreach.api.errors import errors
from outreach.conversations.service import Address
from outreach.errors import BadRequest, Forbidden, ServiceUnavailable, UnsupportedMediaType
from outreach.inbound.pipeline import MAX_PROVIDER_ID, Inbound, Pipeline
from outreach.phones import InvalidPhoneNumber, mask, normalize
from outreach.providers import RecordStatus
from outreach.providers.twilio.adapter import TwilioChannel
from outreach.providers.twilio.status import OPTED_OUT, ours

log = logging.getLogger(__name__)

PROVIDER = "twilio"

# The form fields the service reads, at most as long as Twilio sends them (a longer one is
# not Twilio's: 400). The OpenAPI document declares the same limits.
_LIMITS = {"AccountSid": 34, "MessageSid": MAX_PROVIDER_ID, "From": 64, "To": 64, "Body": 1600,
           "MessageStatus": 32, "ErrorCode": 16}
_EXAMPLES = {"MessageSid": "SM" + "0" * 32, "From": "+8613800138000", "MessageStatus": "delivered",
             "ErrorCode": "30003"}


def _form(description: str, required: list[str], fields: list[str]) -> dict[str, object]:
    """OpenAPI for a form body Twilio posts (only the fields the service reads)."""
    properties = {name: {"type": "string", "maxLength": _LIMITS[name],
                         **({"example": _EXAMPLES[name]} if name in _EXAMPLES else {})}
                  for name in ["AccountSid", *fields]}
    return {"requestBody": {"required": True, "description": description, "content": {
        "application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": required, "properties": properties}}}}}


_SMS_FORM = _form("Twilio's inbound message webhook, signed with X-Twilio-Signature.",
                  ["MessageSid", "From"], ["MessageSid", "From", "To", "Body"])
_STATUS_FORM = _form("Twilio's StatusCallback for a message the service sent, signed likewise.",
                     ["MessageSid", "MessageStatus"], ["MessageSid", "MessageStatus", "ErrorCode"])
_ERRORS = errors(400, 403, 413, 415, 503)


def router(
    channel: TwilioChannel,
    pipeline: Pipeline,
    record_status: RecordStatus,
    *,
    max_bytes: int,
    default_region: str,
) -> APIRouter:
    routes = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])

    async def verified_form(request: Request) -> dict[str, str]:
        if not channel.enabled:
            raise ServiceUnavailable(channel.describe_off())
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise UnsupportedMediaType(
                "Twilio webhooks are form-encoded (application/x-www-form-urlencoded).")
        body = await read_capped(request, max_bytes)
        try:
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError as exc:
            raise BadRequest("The form body is not UTF-8.") from exc
        url = channel.public_base_url + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        if not channel.validate(url, params, request.headers.get("x-twilio-signature", "")):
            log.warning("rejected a Twilio webhook with a missing or wrong signature on %s",
                        request.url.path)
            raise Forbidden("Invalid or missing X-Twilio-Signature.")
        too_long = sorted(k for k, cap in _LIMITS.items() if len(params.get(k, "")) > cap)
        if too_long:
            raise BadRequest("Longer than Twilio sends: {}.".format(", ".join(
                f"{k} (at most {_LIMITS[k]})" for k in too_long)))
        # After the signature (which covers them as sent): no NUL reaches the database.
        return {k: v.replace("\x00", "") for k, v in params.items()}

    @routes.post("/sms", response_class=Response, openapi_extra=_SMS_FORM,
                 responses={200: {"content": {"application/xml": {}}}, **_ERRORS})
    async def inbound_sms(request: Request) -> Response:
        """An SMS from a migrant (Twilio's inbound message webhook)."""
        params = await verified_form(request)
        sid = params.get("MessageSid") or params.get("SmsSid")
        if not sid:
            raise BadRequest("MessageSid is missing.")
        try:
            phone = normalize(params.get("From", ""), default_region)
        except InvalidPhoneNumber as exc:
            raise BadRequest(f"From is not a valid phone number: {exc}") from exc
        result = await pipeline.receive(Inbound(
            Address(channel="sms", scheme="tel", path=phone), params.get("Body", ""),
            provider=PROVIDER, provider_id=sid,
        ))
        if result is None:
            log.info("duplicate inbound SMS %s from %s ignored", sid, mask(phone))
        return Response(channel.empty_twiml(), media_type="application/xml")

    @routes.post("/status", response_class=Response, status_code=204, openapi_extra=_STATUS_FORM,
                 responses=_ERRORS)
    async def status_callback(request: Request) -> Response:
        """Delivery status of a message we sent (Twilio's StatusCallback)."""
        params = await verified_form(request)
        sid = params.get("MessageSid") or params.get("SmsSid")
        raw_status = params.get("MessageStatus") or params.get("SmsStatus")
        if not sid or not raw_status:
            raise BadRequest("MessageSid and MessageStatus are required.")
        status = ours(raw_status)
        code_raw = params.get("ErrorCode") or ""
        code = int(code_raw) if code_raw.isdigit() else None
        if status is None or not await record_status(
            "sms", sid, status, code=code, opted_out=code == OPTED_OUT
        ):
            log.debug("status %s for %s changed nothing (unknown, repeated or late)", raw_status, sid)
        return Response(status_code=204)

    return routes
