"""SMS through Twilio: the adapter (``adapter``), its webhooks (``webhooks``), how replies
become text messages (``render``) and Twilio's statuses and error codes (``status``)."""

from __future__ import annotations

from bot.contract import Reply
from outreach.outbound.enqueue import Part
from outreach.providers import Channel, Wiring
from outreach.providers.twilio import webhooks
from outreach.providers.twilio.adapter import TwilioChannel
from outreach.providers.twilio.render import sms_parts


class SmsRender:
    """Each reply as text messages of at most ``max_segments`` segments each."""

    def __init__(self, max_segments: int) -> None:
        self.max_segments = max_segments

    def __call__(self, replies: list[Reply]) -> list[Part]:
        return [Part(p.text, None, p.encoding, p.segments)
                for reply in replies for p in sms_parts(reply, self.max_segments)]


def build(wiring: Wiring) -> Channel:
    s = wiring.settings
    adapter = TwilioChannel(s)

    def describe() -> str:
        if adapter.enabled:
            return f"SMS channel on: Twilio webhooks at {adapter.public_base_url}/webhooks/twilio/sms"
        return adapter.describe_off()

    return Channel(
        name="sms", sender=adapter, render=SmsRender(s.sms_max_segments),
        router=webhooks.router(adapter, wiring.pipeline, wiring.record_status,
                               max_bytes=s.inbound_max_bytes, default_region=s.default_region),
        describe=describe,
    )
