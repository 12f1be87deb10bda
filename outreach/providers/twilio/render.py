"""Bot replies as SMS text: numbered choices and a budget of segments per message.

SMS has no buttons, so choices become a numbered list and people answer with the number
(the bot already reads "1", "１", "一" or the label). Every segment is billed and a long
concatenated message is reassembled unreliably by some handsets, so a reply is sent as
several messages of at most ``max_segments`` segments each. Where it is cut matters to
the reader: between paragraphs rather than mid-sentence, never inside a character (an
accent torn from its letter, half an emoji), and never through the list of choices. The
segment arithmetic is ``content.sms.segments``, the same count authors see for lessons.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import regex

from bot.contract import Reply
from content.sms import GSM7_SINGLE, Encoding, segments

__all__ = ["SmsPart", "render", "sms_parts", "split"]


@dataclass(frozen=True, slots=True)
class SmsPart:
    """One message to send: its text and what it costs (encoding, billed segments)."""

    text: str
    encoding: Encoding
    segments: int


def render(reply: Reply) -> str:
    """The reply as plain text, choices as a numbered list after a blank line.

    Numbers are what SMS users type back. A label is put on one line (its whitespace
    collapsed) so that each choice stays one numbered line.
    """
    text = reply.text.strip()
    if not reply.choices:
        return text
    menu = "\n".join(
        f"{number}. {' '.join(choice.label.split())}"
        for number, choice in enumerate(reply.choices, start=1)
    )
    return f"{text}\n\n{menu}" if text else menu


def split(text: str, max_segments: int = 3) -> list[str]:
    """``text`` cut into parts of at most ``max_segments`` SMS segments each.

    Greedy: each part takes as much as fits, cut at the best break available. Breaks are
    preferred in this order: paragraph (blank line), line, sentence end, space, Chinese
    clause mark (，、：), and only then a hard cut on a grapheme boundary. A preferred
    break wins only if its part is at least half as long as the longest part that could
    fit; otherwise the longest natural break is used, so a short first paragraph does not
    cost an extra message. A numbered list that fits in one part is never cut through.

    Parts are stripped and never empty; only whitespace is lost between them. A text
    that fits is returned whole (stripped); a blank text gives no parts.
    """
    _check_max_segments(max_segments)
    return list(_split(text, max_segments))


@functools.lru_cache(maxsize=512)
def _split(text: str, max_segments: int) -> tuple[str, ...]:
    # Pure, and the long texts are the content packs' lessons and answers, sent to many
    # people word for word: each is cut once per process.
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if _fits(rest, max_segments):
            parts.append(rest)
            break
        cut = _cut(rest, max_segments)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return tuple(parts)


def sms_parts(reply: Reply, max_segments: int = 3) -> list[SmsPart]:
    """The reply rendered and split, each part with its encoding and segment count.

    No "(1/2)" markers: the parts are sent in order and read as one conversation. An
    empty reply gives no parts (nothing to send).
    """
    _check_max_segments(max_segments)
    result: list[SmsPart] = []
    for part in split(render(reply), max_segments):
        info = segments(part)
        result.append(SmsPart(part, info.encoding, info.segments))
    return result


def _check_max_segments(max_segments: int) -> None:
    if isinstance(max_segments, bool) or not isinstance(max_segments, int) or max_segments < 1:
        raise ValueError(f"max_segments must be an integer >= 1, got {max_segments!r}")


def _fits(text: str, max_segments: int) -> bool:
    return segments(text).segments <= max_segments


# --- where a part may end -------------------------------------------------------------

# Closing quotes and brackets stay with the sentence they close.
_CLOSERS = "\"'”’」』）)\\]】》〉"
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n")
_LINE = re.compile(r"\n")
# Chinese marks end a sentence wherever they are (no space follows in Chinese text);
# ASCII ones only before whitespace or the end, so "3.5" and "e-mail.com" stay whole.
_SENTENCE = re.compile(rf"[。！？；…]+[{_CLOSERS}]*|[.!?]+[{_CLOSERS}]*(?=\s|$)")
_SPACE = re.compile(r"\s")
_CLAUSE = re.compile(rf"[，、：]+[{_CLOSERS}]*")
# "1. Yes" / "2) No": one line of a numbered list (what ``render`` makes of choices).
_LIST_LINE = re.compile(r"[^\S\n]*\d{1,3}[.)][^\S\n]+\S[^\n]*")
_LIST_MARKER = re.compile(r"[^\S\n]*\d{1,3}")


def _paragraph_ends(text: str) -> Iterator[int]:
    return (m.start() for m in _PARAGRAPH.finditer(text))


def _line_ends(text: str) -> Iterator[int]:
    return (m.start() for m in _LINE.finditer(text))


def _sentence_ends(text: str) -> Iterator[int]:
    for m in _SENTENCE.finditer(text):
        # "1. Yes": the period of a list number is not the end of a sentence.
        line_start = text.rfind("\n", 0, m.start()) + 1
        if not _LIST_MARKER.fullmatch(text, line_start, m.start()):
            yield m.end()


def _space_ends(text: str) -> Iterator[int]:
    return (m.start() for m in _SPACE.finditer(text))


def _clause_ends(text: str) -> Iterator[int]:
    return (m.end() for m in _CLAUSE.finditer(text))


_LEVELS: tuple[Callable[[str], Iterator[int]], ...] = (
    _paragraph_ends,
    _line_ends,
    _sentence_ends,
    _space_ends,
    _clause_ends,
)


def _cut(rest: str, max_segments: int) -> int:
    """Where the next part ends: ``rest[:cut]`` fits, ``0 < cut < len(rest)``.

    ``rest`` is stripped and does not fit whole.
    """
    limit, boundaries = _longest_fit(rest, max_segments)
    protected = _protected_lists(rest, max_segments)

    def allowed(pos: int) -> bool:
        return 0 < pos < len(rest) and pos in boundaries and not _inside(pos, protected)

    best_len, best_pos = 0, 0
    for level in _LEVELS:
        pos = _best_break(rest, level(rest), limit, max_segments, allowed)
        if pos:
            length = len(rest[:pos].rstrip())
            if 2 * length >= limit:
                return pos
            if length > best_len:
                best_len, best_pos = length, pos
    if best_pos:
        return best_pos
    # Last resort: the longest grapheme-safe prefix that keeps lists whole, if any does.
    for pos in range(limit, 0, -1):
        if allowed(pos):
            return pos
    return limit


def _best_break(
    rest: str,
    positions: Iterator[int],
    limit: int,
    max_segments: int,
    allowed: Callable[[int], bool],
) -> int:
    """The latest allowed break whose part fits, or 0."""
    candidates: list[int] = []
    for pos in positions:
        # Past ``limit`` a part can only fit if everything beyond it is whitespace.
        if pos > limit and rest[limit:pos].strip():
            break
        if allowed(pos):
            candidates.append(pos)
    for pos in reversed(candidates):
        if _fits(rest[:pos].rstrip(), max_segments):
            return pos
    return 0


def _longest_fit(rest: str, max_segments: int) -> tuple[int, _Boundaries]:
    """Length of the longest prefix that fits, ending on a grapheme boundary, and the
    boundaries found on the way (for the breaks, all at or just past that length).

    Segments never decrease as text grows, so a binary search is exact. A single
    grapheme too long for the budget (a letter under dozens of combining marks) is cut
    between code points rather than loop forever; one code point always fits.
    """
    # No part holds more than 160 characters per segment; one code point always fits.
    window = min(len(rest), GSM7_SINGLE * max_segments)
    lo, hi = 1, window
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _fits(rest[:mid], max_segments):
            lo = mid
        else:
            hi = mid - 1
    # Clusters only as far as the cut can go: finding them costs more than the search.
    boundaries = _Boundaries(rest, lo)
    pos = lo
    while pos > 0 and pos not in boundaries:
        pos -= 1
    if pos == 0:
        pos = lo
        while pos > 1 and _splits_surrogates(rest, pos):
            pos -= 1
    return pos, boundaries


def _protected_lists(rest: str, max_segments: int) -> list[tuple[int, int]]:
    """Spans of numbered lists that fit in one part, so no cut goes through them."""
    spans: list[tuple[int, int]] = []
    start = end = -1
    offset = 0
    for line in rest.split("\n"):
        if _LIST_LINE.fullmatch(line):
            if start < 0:
                start = offset
            end = offset + len(line)
        elif start >= 0:
            spans.append((start, end))
            start = -1
        offset += len(line) + 1
    if start >= 0:
        spans.append((start, end))
    return [(s, e) for s, e in spans if _fits(rest[s:e].strip(), max_segments)]


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < pos < end for start, end in spans)


# --- grapheme boundaries ----------------------------------------------------------------

# An extended grapheme cluster (UAX #29, as the ``regex`` module implements it): a letter
# with its accents, an emoji with its modifiers and joiners, a flag, CR LF.
_GRAPHEME = regex.compile(r"\X")


class _Boundaries:
    """Where a part may end before ``text[pos]`` without tearing a user-perceived character.

    Clusters are found in a prefix and the prefix grows on demand: only the first few
    hundred characters of a long text are ever asked about. A break before ``text[pos]``
    depends on what comes before it and on ``text[pos]`` itself, never on what follows, so
    the ends found in ``text[:n]`` are exact for every position below ``n``.
    """

    __slots__ = ("_ends", "_known", "text")

    def __init__(self, text: str, upto: int) -> None:
        self.text = text
        self._known = 0
        self._ends: set[int] = set()
        self._scan(upto)

    def _scan(self, upto: int) -> None:
        n = min(len(self.text), upto + 1)
        self._ends = {m.end() for m in _GRAPHEME.finditer(self.text[:n])}
        self._known = n

    def __contains__(self, pos: int) -> bool:
        text = self.text
        if pos <= 0 or pos >= len(text):
            return True
        if pos >= self._known:
            self._scan(max(pos, 2 * self._known))
        return pos in self._ends and not _splits_surrogates(text, pos)


def _splits_surrogates(text: str, pos: int) -> bool:
    """True between a high and a low surrogate (text decoded with 'surrogatepass').

    The cluster pattern sees two lone surrogates (category Cs, a control) and would cut between them.
    """
    return (
        0 < pos < len(text)
        and "\ud800" <= text[pos - 1] <= "\udbff"
        and "\udc00" <= text[pos] <= "\udfff"
    )
