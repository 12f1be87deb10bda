"""The composition root's bag of long-lived objects, built once per app or CLI run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import Engine
from content import Library, load_library
from outreach.appointments.store import AppointmentStore
from outreach.channels.telegram import TelegramChannel
from outreach.channels.twilio import TwilioChannel
from outreach.conversations.answers import Answers, register_appointments
from outreach.conversations.service import ConversationService
from outreach.db import create_engine, create_sessionmaker
from outreach.messages.dispatcher import Dispatcher
from outreach.messages.policy import SendPolicy, parse_quiet_hours
from outreach.messages.schedule import Outbound
from outreach.messages.sms import SmsInbound
from outreach.messages.telegram import TelegramInbound
from outreach.regions import Regions, load_regions
from outreach.settings import Settings
from outreach.simulator.sender import SimChannel
from outreach.worker import Worker

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    library: Library
    regions: Regions
    bot: Engine
    conversations: ConversationService
    sms: TwilioChannel
    telegram: TelegramChannel
    dispatcher: Dispatcher
    outbound: Outbound
    appointments: AppointmentStore
    worker: Worker
    sms_inbound: SmsInbound
    telegram_inbound: TelegramInbound

    async def start(self, *, telegram_webhook: bool = True, worker: bool | None = None) -> None:
        """Background work of a serving process (inside its event loop). Each channel says
        once whether it is on. ``worker``: also send the outbox and run the scheduled jobs
        (default: the serve_runs_worker setting)."""
        if self.sms.enabled:
            log.info("SMS channel on: Twilio webhooks at %s/webhooks/twilio/sms", self.sms.public_base_url)
        else:
            log.info(self.sms.describe_off())
        if self.telegram.enabled:
            await self.telegram.setup(webhook=telegram_webhook)
            log.info("Telegram channel on")
        else:
            log.info(self.telegram.problem)
        if self.settings.serve_runs_worker if worker is None else worker:
            await self.worker.start()
        else:
            log.info("not sending the outbox here: `outreach worker` processes do")

    async def start_worker(self) -> None:
        """A worker process: channels for sending only (no webhooks set), the dispatcher
        and the recurring jobs."""
        for channel in (self.sms, self.telegram):
            log.info("%s channel %s", channel.channel, "on" if channel.enabled else "off")
        await self.worker.start()

    async def close(self) -> None:
        await self.worker.stop()
        await self.sms.close()
        await self.telegram.close()
        await self.conversations.writer.close()
        await self.db.dispose()


def build_services(
    settings: Settings, *, library: Library | None = None, regions: Regions | None = None
) -> Services:
    library = library or load_library(settings.content_dir)
    regions = regions or load_regions(settings.regions_file)
    db = create_engine(settings.database_url)
    sessions = create_sessionmaker(db)
    sms = TwilioChannel(settings)
    telegram = TelegramChannel(settings)
    bot = Engine(
        library=library,
        regions=regions,
        locales_dir=settings.locales_dir,
        default_locale=settings.default_locale,
        quiz_length=settings.quiz_length,
        pass_mark=settings.pass_mark,
        max_question_chars=settings.max_question_chars,
        help_contact=settings.help_contact,
        link_phone=sms.enabled,
        default_region=settings.default_region,
    )
    log.info(
        "content loaded: %d topics, %d FAQ entries, %d quiz questions",
        len(library.topics),
        len(library.faq),
        sum(len(q.questions) for q in library.quizzes),
    )
    outbound = Outbound(db.dialect)
    appointments = AppointmentStore(
        db.dialect,
        outbound=outbound,
        library=library,
        locales_dir=settings.locales_dir,
        default_locale=settings.default_locale,
        reminder_offsets=settings.reminder_offset_list,
    )
    answers = Answers()
    register_appointments(answers, appointments)
    conversations = ConversationService(bot, db, answers=answers)
    dispatcher = Dispatcher(
        conversations.writer,
        db.dialect,
        [sms, telegram, SimChannel(settings)],
        max_attempts=settings.send_max_attempts,
        concurrency=settings.send_concurrency,
        lease=settings.send_lease,
        policy=SendPolicy(
            quiet=parse_quiet_hours(settings.quiet_hours),
            daily_cap=settings.daily_cap,
            default_tz=settings.timezone,
        ),
    )
    return Services(
        settings=settings,
        db=db,
        sessions=sessions,
        library=library,
        regions=regions,
        bot=bot,
        conversations=conversations,
        sms=sms,
        telegram=telegram,
        dispatcher=dispatcher,
        outbound=outbound,
        appointments=appointments,
        worker=Worker(
            conversations.writer,
            dispatcher,
            tick=settings.dispatch_interval,
            retention=timedelta(days=settings.outbox_retention_days),
        ),
        sms_inbound=SmsInbound(conversations, dispatcher, settings.sms_max_segments),
        telegram_inbound=TelegramInbound(conversations, dispatcher, telegram),
    )
