"""The simulator: chat with the bot over HTTP and a page, as any made-up contact (dev
only). Its replies come back in the response (no ``render``: nothing is queued); what the
service sends on its own is "delivered" at once by its adapter and fetched by the page."""

from __future__ import annotations

from outreach.providers import Channel, Wiring
from outreach.providers.simulator import endpoints
from outreach.providers.simulator.adapter import SimChannel


def build(wiring: Wiring) -> Channel:
    s = wiring.settings
    adapter = SimChannel(s)

    def describe() -> str:
        if adapter.enabled:
            return f"simulator on: http://{s.host}:{s.port}/simulator"
        return f"simulator off (OUTREACH_ENV={s.env})"

    return Channel(name="sim", sender=adapter, render=None, describe=describe,
                   router=endpoints.router(wiring.pipeline, wiring.db) if adapter.enabled else None)
