"""The composition root's bag of long-lived objects, built once per app or CLI run.

It wires; nothing reads it at request time: routes are built with what they use."""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from typing import Any

from bot import Engine
from content import Library, load_library
from outreach.appointments.service import AppointmentService
from outreach.conversations.answers import Answers, register_appointments
from outreach.conversations.repository import LinkLimits
from outreach.conversations.service import ConversationService
from outreach.db import Database
from outreach.inbound.pipeline import Pipeline
from outreach.outbound.dispatcher import Dispatcher, apply_status
from outreach.outbound.enqueue import Enqueuer
from outreach.outbound.policy import SendPolicy, parse_quiet_hours
from outreach.providers import Channel, Wiring, build_channels
from outreach.providers.telegram.adapter import TelegramChannel
from outreach.providers.twilio.adapter import TwilioChannel
from outreach.regions import Regions, load_regions
from outreach.settings import Settings
from outreach.timeutil import SYSTEM_CLOCK, Clock
from outreach.worker import Worker

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    db: Database
    library: Library
    regions: Regions
    bot: Engine
    conversations: ConversationService
    pipeline: Pipeline
    channels: dict[str, Channel]
    dispatcher: Dispatcher
    enqueuer: Enqueuer
    appointments: AppointmentService
    worker: Worker
    clock: Clock

    def provided(self) -> dict[type, Any]:
        """What request handlers may depend on, by type (``outreach.api.deps.provided``)."""
        return {Settings: self.settings, Database: self.db, Library: self.library,
                Regions: self.regions, AppointmentService: self.appointments,
                Dispatcher: self.dispatcher, Clock: self.clock}

    @property
    def sms(self) -> TwilioChannel:
        sender = self.channels["sms"].sender
        assert isinstance(sender, TwilioChannel)
        return sender

    @property
    def telegram(self) -> TelegramChannel:
        sender = self.channels["telegram"].sender
        assert isinstance(sender, TelegramChannel)
        return sender

    async def start(self, *, telegram_webhook: bool = True, worker: bool | None = None) -> None:
        """Background work of a serving process (inside its event loop). Each channel says
        once whether it is on. ``worker``: also send the outbox and run the scheduled jobs
        (default: the serve_runs_worker setting)."""
        for channel in self.channels.values():
            await channel.start(telegram_webhook)
            log.info(channel.describe())
        if self.settings.serve_runs_worker if worker is None else worker:
            await self.worker.start()
        else:
            log.info("not sending the outbox here: `outreach worker` processes do")

    async def start_worker(self) -> None:
        """A worker process: channels for sending only (no webhooks set), the dispatcher
        and the recurring jobs."""
        for channel in self.channels.values():
            log.info("%s channel %s", channel.name, "on" if channel.sender.enabled else "off")
        await self.worker.start()

    async def close(self) -> None:
        await self.worker.stop()
        for channel in self.channels.values():
            await channel.sender.close()
        await self.db.close()


def link_code_key(settings: Settings) -> bytes:
    """The key of the phone-link codes' digests: configured, or derived from the Twilio
    auth token (a secret every process of the deployment shares)."""
    if settings.link_code_key:
        return settings.link_code_key.encode()
    secret = settings.twilio_auth_token or ""
    return hmac.new(secret.encode(), b"outreach phone-link codes", hashlib.sha256).digest()


def build_container(
    settings: Settings, *, library: Library | None = None, regions: Regions | None = None,
    clock: Clock | None = None, rng: random.Random | None = None,
) -> Container:
    """Everything, wired. ``clock`` and ``rng``: the one clock every part reckons time by
    and the random source of the conversations and retries (default: the system's)."""
    clock = clock if clock is not None else SYSTEM_CLOCK
    library = library or load_library(settings.content_dir)
    regions = regions or load_regions(settings.regions_file)
    db = Database(settings.database_url)
    bot = Engine(
        library=library,
        regions=regions,
        locales_dir=settings.locales_dir,
        default_locale=settings.default_locale,
        quiz_length=settings.quiz_length,
        pass_mark=settings.pass_mark,
        max_question_chars=settings.max_question_chars,
        help_contact=settings.help_contact,
        default_region=settings.default_region,
        timezone=settings.timezone,
        link_key=link_code_key(settings),
    )
    log.info(
        "content loaded: %d topics, %d FAQ entries, %d quiz questions",
        len(library.topics),
        len(library.faq),
        sum(len(q.questions) for q in library.quizzes),
    )
    enqueuer = Enqueuer(db.dialect, clock=clock)
    appointments = AppointmentService(
        db.dialect,
        enqueuer=enqueuer,
        library=library,
        locales_dir=settings.locales_dir,
        default_locale=settings.default_locale,
        reminder_offsets=settings.reminder_offset_list,
    )
    answers = Answers()
    register_appointments(answers, appointments)
    conversations = ConversationService(
        bot, db, enqueuer=enqueuer, answers=answers, rng=rng, clock=clock,
        link_limits=LinkLimits(per_chat=settings.link_codes_per_chat_hour,
                               chat_window=timedelta(hours=1),
                               per_number=settings.link_codes_per_number_day,
                               number_window=timedelta(days=1)),
    )
    pipeline = Pipeline(conversations, enqueuer, clock=clock)
    channels = {c.name: c for c in build_channels(Wiring(
        settings=settings, db=db, pipeline=pipeline,
        record_status=partial(apply_status, db, clock=clock),
    ))}
    # Chat users may link a phone number only if there is SMS to send the code.
    bot.link_phone = "sms" in channels and channels["sms"].sender.enabled
    dispatcher = Dispatcher(
        db,
        [c.sender for c in channels.values()],
        max_attempts=settings.send_max_attempts,
        concurrency=settings.send_concurrency,
        lease=settings.send_lease,
        policy=SendPolicy(
            quiet=parse_quiet_hours(settings.quiet_hours),
            daily_cap=settings.daily_cap,
            default_tz=settings.timezone,
        ),
        clock=clock,
        rng=rng,
    )
    pipeline.wake = dispatcher.wake
    return Container(
        settings=settings,
        db=db,
        library=library,
        regions=regions,
        bot=bot,
        conversations=conversations,
        pipeline=pipeline,
        channels=channels,
        dispatcher=dispatcher,
        enqueuer=enqueuer,
        appointments=appointments,
        worker=Worker(
            db,
            dispatcher,
            tick=settings.dispatch_interval,
            retention=timedelta(days=settings.outbox_retention_days),
        ),
        clock=clock,
    )
