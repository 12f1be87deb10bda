"""A contact's consent and message directions: plain enums, no ORM, so that the pure bot
engine can read and set them without loading the database layer."""

from __future__ import annotations

from enum import StrEnum


class Consent(StrEnum):
    pending = "pending"  # not yet asked, or asked and not answered
    granted = "granted"  # agreed that we keep what the service needs
    declined = "declined"  # refused: nothing but the refusal is kept


class ConsentKind(StrEnum):
    granted = "granted"  # consent given during onboarding
    declined = "declined"  # consent refused during onboarding
    opted_out = "opted_out"  # STOP and its synonyms: silence on every channel
    opted_in = "opted_in"  # START after an opt-out


class Direction(StrEnum):
    inbound = "in"  # from the person to us
    outbound = "out"  # from us to the person
