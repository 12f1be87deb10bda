"""Phone numbers: one canonical form for storage, a masked form for logs.

People type numbers every way ("138 1234 5678", "+86-138…", "0086…", full-width digits
from a Chinese keyboard) while Twilio sends E.164. Storing one form (E.164) means one
person is one contact, whichever way the number came in.

Logs must never carry phone numbers: a number identifies a person, and the people this
service reaches (migrants, some without secure status) are the ones most harmed if logs
leak. ``mask`` keeps only what debugging needs (the country and the last two digits), and
``InvalidPhoneNumber`` messages quote the input masked for the same reason; the raw input
stays on the exception (``.raw``) for code that has to show it back to its owner.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

__all__ = ["InvalidPhoneNumber", "mask", "normalize"]

# What a typed number may contain once full-width forms are folded: an optional leading
# plus, digits and the usual separators. Anything else ("call 138…", letters) is refused
# rather than left to phonenumbers, which would fish a number out of free text.
_TYPED = re.compile(r"\+?[\d\s\-().\u2010-\u2015\u2212]+")
_E164 = re.compile(r"\+[1-9]\d{1,14}")

_WHY_NOT_POSSIBLE = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country calling code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong number of digits",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "too short (a local number without area code)",
}


class InvalidPhoneNumber(ValueError):
    """``raw`` is not a valid phone number; ``reason`` says why, in plain words."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"invalid phone number {mask(raw)!r}: {reason}")
        self.raw = raw
        self.reason = reason


def normalize(raw: str, default_region: str = "CN") -> str:
    """``raw`` in E.164 (``+8613812345678``); ``default_region`` applies without ``+``.

    Accepts separators (spaces, dashes, dots, parentheses), full-width characters, the
    ``00`` international prefix and E.164 itself (returned unchanged). Raises
    ``InvalidPhoneNumber`` for text that is not a number and for numbers that are not
    valid where they belong (``phonenumbers.is_valid_number``).
    """
    if not isinstance(raw, str):
        raise InvalidPhoneNumber(str(raw), f"expected text, got {type(raw).__name__}")
    typed = unicodedata.normalize("NFKC", raw).strip()
    if not typed:
        raise InvalidPhoneNumber(raw, "empty")
    if not _TYPED.fullmatch(typed) or not any(c.isdigit() for c in typed):
        raise InvalidPhoneNumber(raw, "not a phone number (only digits, '+', spaces, '-', '()')")
    try:
        number = phonenumbers.parse(typed, default_region.upper())
    except NumberParseException as exc:
        raise InvalidPhoneNumber(raw, _parse_error(exc, default_region)) from exc
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible in _WHY_NOT_POSSIBLE:
        raise InvalidPhoneNumber(raw, _WHY_NOT_POSSIBLE[possible])
    if not phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_number(number) or default_region.upper()
        raise InvalidPhoneNumber(
            raw, f"not a valid number for region {region} (+{number.country_code})"
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _parse_error(exc: NumberParseException, default_region: str) -> str:
    """phonenumbers' parse failure in words a person fixing the number understands."""
    if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
        if default_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            return f"no country calling code and unknown default region {default_region!r}"
        return "unknown country calling code"
    if exc.error_type in (
        NumberParseException.TOO_SHORT_NSN,
        NumberParseException.TOO_SHORT_AFTER_IDD,
    ):
        return "too short"
    if exc.error_type == NumberParseException.TOO_LONG:
        return "too long"
    return "not a phone number"


def mask(e164: str) -> str:
    """``+8613812345678`` -> ``+86*********78``: country calling code and last 2 digits.

    For logs, so it never raises: anything not E.164 keeps only its last 2 characters.
    A national number of 2 digits or fewer is masked entirely.
    """
    try:
        text = e164 if isinstance(e164, str) else str(e164)
    except Exception:
        return "***"
    if _E164.fullmatch(text):
        digits = text[1:]
        for size in (1, 2, 3):
            if int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                code, national = digits[:size], digits[size:]
                if len(national) <= 2:
                    return f"+{code}{'*' * len(national)}"
                return f"+{code}{'*' * (len(national) - 2)}{national[-2:]}"
    return "*" * max(len(text) - 2, 0) + text[-2:]
