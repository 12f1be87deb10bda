"""Settings from the environment (prefix ``OUTREACH_``); DESIGN.md lists the public names."""

from __future__ import annotations

import re
from datetime import time, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Env(StrEnum):
    dev = "dev"  # local development: the simulator is on
    test = "test"  # the test suite: like dev
    prod = "prod"  # production: no simulator


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTREACH_", env_file=None, extra="ignore")

    env: Env = Env.dev
    database_url: str = "sqlite+aiosqlite:///./var/outreach.db"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    public_base_url: str | None = None

    # Where the gettext catalogs live; the repository's locales/ by default.
    locales_dir: Path = REPO_ROOT / "locales"
    default_locale: str = "zh_Hans"
    # The residence cities and districts a migrant can choose from.
    regions_file: Path = Path(__file__).resolve().parent / "regions.yaml"
    content_dir: Path | None = None
    timezone: str = "Asia/Shanghai"

    # Quiz and indicator parameters.
    quiz_length: int = Field(5, ge=1, le=20)
    pass_mark: float = Field(0.8, gt=0, le=1)
    knowledge_target: float = Field(0.9, gt=0, le=1)
    suppress_below: int = Field(5, ge=1)
    # The knowledge rate's latest attempt: after a person's first completed attempt, a
    # retake counts only this many days or more after their previous counted one.
    retake_days: int = Field(30, ge=0, le=3650)
    # Inbound text longer than this is not treated as a question.
    max_question_chars: int = Field(500, ge=20)

    # What HELP tells people about reaching a person (e.g. a hotline); optional.
    help_contact: str | None = None

    # SMS over Twilio: on when the account, token, sender and public URL are all set.
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base: str | None = None
    twilio_timeout: float = Field(10.0, gt=0)
    default_region: str = "CN"  # for phone numbers written without +country code
    sms_max_segments: int = Field(3, ge=1, le=10)
    inbound_max_bytes: int = Field(16_384, ge=1024)
    # The largest request body the JSON API reads (413 above it).
    api_max_bytes: int = Field(65_536, ge=1024)
    send_max_attempts: int = Field(6, ge=1)
    send_concurrency: int = Field(10, ge=1)
    # The send policy for what the service starts itself (reminders, follow-ups, campaigns):
    # quiet hours in the recipient's time zone ("off" for none) and a daily cap per person.
    quiet_hours: str = "21:00-08:00"
    daily_cap: int = Field(3, ge=1)
    # Appointment reminders, before the start: e.g. "24h,2h" or "90m".
    reminder_offsets: str = "24h,2h"
    # Does `outreach serve` also send the outbox and run the scheduled jobs? Turn it off
    # when separate `outreach worker` processes do that (DESIGN.md: scaling out).
    serve_runs_worker: bool = True
    # How often a worker looks for due messages (seconds); new replies wake it at once.
    dispatch_interval: float = Field(1.0, gt=0, le=60)
    # A claimed message not recorded within this many seconds (its worker died) is
    # taken over by another worker.
    send_lease: float = Field(60.0, ge=1)
    # Days a sent message's text is kept before outbox.purge blanks it.
    outbox_retention_days: int = Field(30, ge=1)
    telegram_token: str | None = None
    telegram_secret: str | None = None
    telegram_api_base: str | None = None
    # Linking a chat to a phone number: codes per chat per hour, and per number per day
    # (whichever chats ask), so the chat cannot be used to text a stranger repeatedly.
    link_codes_per_chat_hour: int = Field(3, ge=1, le=100)
    link_codes_per_number_day: int = Field(3, ge=1, le=100)
    # Keys the digest of a code kept while the person types it; derived from the Twilio
    # auth token when unset (linking needs the SMS channel, so there is one).
    link_code_key: str | None = None

    # The staff console (/console): a session ends after this many hours without a
    # request; this many failed sign-ins for one name within lockout_minutes lock that
    # name for lockout_minutes; passwords have at least password_min_length characters.
    console_idle_hours: float = Field(8.0, gt=0, le=24 * 30)
    console_lockout_failures: int = Field(5, ge=1, le=100)
    console_lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    password_min_length: int = Field(10, ge=8, le=128)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        """Accept the usual spellings and pick the async driver the service runs on."""
        for plain, driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql+psycopg://", "postgresql+asyncpg://"),
            ("postgresql+psycopg2://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain) :]
        return url

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, text: str) -> str:
        parse_quiet_hours(text)
        return text

    @field_validator("reminder_offsets")
    @classmethod
    def _offsets(cls, text: str) -> str:
        parse_offsets(text)
        return text

    @property
    def reminder_offset_list(self) -> list[timedelta]:
        return parse_offsets(self.reminder_offsets)

    @property
    def simulator_enabled(self) -> bool:
        return self.env != Env.prod

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS in production (tests and `make run` use plain HTTP)."""
        return self.env == Env.prod

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


_OFFSET = re.compile(r"^(\d+)\s*([hm])$")


_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """'21:00-08:00' → (21:00, 08:00); '' or 'off' → None (no quiet hours)."""
    if not text.strip() or text.strip().lower() == "off":
        return None
    m = _HOURS.match(text)
    if m is None:
        raise ValueError(f"quiet hours must look like 21:00-08:00, not {text!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if not (h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60):
        raise ValueError(f"quiet hours out of range: {text!r}")
    start, end = time(h1, m1), time(h2, m2)
    return None if start == end else (start, end)


def parse_offsets(text: str) -> list[timedelta]:
    """'24h,2h' → [24 h, 2 h], longest first; '' → no reminders."""
    out = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        m = _OFFSET.match(part)
        if m is None or int(m.group(1)) == 0:
            raise ValueError(f"a reminder offset looks like 24h or 90m, not {part!r}")
        n = int(m.group(1))
        out.append(timedelta(hours=n) if m.group(2) == "h" else timedelta(minutes=n))
    return sorted(set(out), reverse=True)


@lru_cache
def get_settings() -> Settings:
    return Settings()
