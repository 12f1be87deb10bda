"""The channels: one package per provider, found through ``REGISTRY``.

A provider package (``simulator``, ``twilio``, ``telegram``) holds everything about its
provider: the adapter that sends (a ``Sender`` for the outbound engine), the webhooks or
page that receive (which hand an ``Inbound`` to the pipeline), how a turn's replies are
cut into its messages (``render``), and its statuses and error codes. Its ``__init__``
offers ``build(wiring) -> Channel``; adding a channel is writing such a package and
naming it here.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import APIRouter

from outreach.db.database import Database
from outreach.inbound.pipeline import Pipeline, Render
from outreach.outbound.models import OutboxStatus
from outreach.outbound.sender import Sender
from outreach.settings import Settings

REGISTRY = (
    "outreach.providers.simulator",
    "outreach.providers.twilio",
    "outreach.providers.telegram",
)

class RecordStatus(Protocol):
    """Records a delivery report from ``channel``'s provider, in our words: its message
    id, our status for it, its error code, and "the recipient has opted out"; True if it
    changed anything (``Dispatcher.record_status``)."""

    async def __call__(self, channel: str, sid: str, status: OutboxStatus, *,
                       code: int | None = None, opted_out: bool = False) -> bool: ...


@dataclass(frozen=True)
class Wiring:
    """What a provider is given to build its channel."""

    settings: Settings
    db: Database
    pipeline: Pipeline
    record_status: RecordStatus


async def _nothing(webhook: bool) -> None:
    return None


@dataclass(frozen=True)
class Channel:
    name: str  # the outbox's channel: sim, sms, telegram
    sender: Sender
    # How replies become this channel's messages; None: returned to the caller, not queued.
    render: Render | None
    # Its webhooks or pages (mounted only if the channel is on at start, or always).
    router: APIRouter | None = None
    # Said once at start: whether it is on, and why not.
    describe: Callable[[], str] = lambda: ""
    # Start-up work in a serving process (e.g. registering a webhook); ``webhook``: may
    # it tell the provider where to deliver (False in a worker process).
    start: Callable[[bool], Awaitable[None]] = field(default=_nothing)


def build_channels(wiring: Wiring) -> list[Channel]:
    """Every registered channel, registered with the pipeline too."""
    channels = []
    for module in REGISTRY:
        channel: Channel = importlib.import_module(module).build(wiring)
        wiring.pipeline.register(channel.name, channel.render)
        channels.append(channel)
    return channels
