"""SMS length accounting (GSM 03.38 / 3GPP TS 23.038).

Every SMS part is billed, and Chinese text switches a message to UCS-2 where a part holds
only 70 units, so authors need to see what each lesson costs before it ships. The counts
follow how handsets and Twilio split long messages: a multipart part carries a 6-byte
header (153 septets or 67 UTF-16 units), and an escaped GSM character or a surrogate pair
is never split across two parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet, in code order 0x00-0x7F. 0x1B (ESC) is the escape to the
# extension table, not a character a text can contain, so it is left out.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ" "ÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Extension table: each costs ESC + code = 2 septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True, slots=True)
class SmsInfo:
    """How a text travels as SMS.

    ``chars`` is in the encoding's units: septets for GSM-7 (an extension character
    counts 2), UTF-16 code units for UCS-2 (an emoji outside the BMP counts 2).
    """

    encoding: Encoding
    chars: int
    segments: int


_GSM7_ALL = frozenset(GSM7_BASIC) | frozenset(GSM7_EXTENSION)
_GSM7_EXT = frozenset(GSM7_EXTENSION)


def is_gsm7(text: str) -> bool:
    return _GSM7_ALL.issuperset(text)


def _uniform(n: int, single: int, part: int) -> int:
    """Parts for ``n`` units that are all one wide (the common case, no scan needed)."""
    if n == 0:
        return 0
    return 1 if n <= single else -(-n // part)


def _pack(units: list[int], single: int, part: int) -> int:
    """Number of parts for a sequence of indivisible units (1 or 2 wide)."""
    total = sum(units)
    if total == 0:
        return 0
    if total <= single:
        return 1
    parts, used = 1, 0
    for width in units:
        if used + width > part:
            parts += 1
            used = 0
        used += width
    return parts


def segments(text: str) -> SmsInfo:
    """Encoding, length in units and number of SMS parts for ``text``.

    Called for every candidate cut when long replies are split, so the usual texts (no
    two-unit characters) are counted without a Python-level scan.
    """
    if is_gsm7(text):
        if _GSM7_EXT.isdisjoint(text):
            return SmsInfo("GSM-7", len(text), _uniform(len(text), GSM7_SINGLE, GSM7_PART))
        units = [2 if c in _GSM7_EXT else 1 for c in text]
        return SmsInfo("GSM-7", sum(units), _pack(units, GSM7_SINGLE, GSM7_PART))
    n16 = len(text.encode("utf-16-le", "surrogatepass")) // 2
    if n16 == len(text):
        return SmsInfo("UCS-2", n16, _uniform(n16, UCS2_SINGLE, UCS2_PART))
    units = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return SmsInfo("UCS-2", sum(units), _pack(units, UCS2_SINGLE, UCS2_PART))
