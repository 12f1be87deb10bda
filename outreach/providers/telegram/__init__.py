"""Telegram through aiogram: the adapter (``adapter``: the one module that imports
aiogram), the webhook and the receiver its handlers call (``webhooks``), and how a turn
becomes Telegram messages (``render``)."""

from __future__ import annotations

from outreach.providers import Channel, Wiring
from outreach.providers.telegram import webhooks
from outreach.providers.telegram.adapter import TelegramChannel
from outreach.providers.telegram.render import render


def build(wiring: Wiring) -> Channel:
    adapter = TelegramChannel(wiring.settings)

    def describe() -> str:
        return "Telegram channel on" if adapter.enabled else (adapter.problem or "Telegram channel off")

    async def start(webhook: bool) -> None:
        if adapter.enabled:
            await adapter.setup(webhook=webhook)

    return Channel(
        name="telegram", sender=adapter, render=render,
        router=webhooks.router(adapter, webhooks.receiver(adapter, wiring.pipeline),
                               max_bytes=wiring.settings.inbound_max_bytes),
        describe=describe, start=start,
    )
