"""Settings from the environment (prefix ``OUTREACH_``); DESIGN.md lists the public names."""

from __future__ import annotations

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
    send_max_attempts: int = Field(6, ge=1)
    send_concurrency: int = Field(10, ge=1)
    telegram_token: str | None = None
    telegram_secret: str | None = None
    telegram_api_base: str | None = None

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

    @property
    def simulator_enabled(self) -> bool:
        return self.env != Env.prod

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
