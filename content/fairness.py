"""How a quiz is drawn for one person, and proof that it cannot be passed by a rule.

The knowledge rate is the programme's headline number, so a pass must mean knowing. A
person who does not know can still answer by a fixed rule: always the first button,
always the longest answer, always the answer that promises the most ("free, for
everyone, no papers needed"). ``guess_pass_rates`` computes, over the quiz's own draw,
how often each rule passes; ``outreach content check`` fails when any passes more
than ``MAX_GUESS_PASS`` of the time.

Options are shuffled per person, so a position rule is right with probability 1/k on
every question. Length and generosity survive shuffling; they are beaten only by how
the bank is written: true answers that are sometimes the longest, sometimes the
shortest, mostly neither; sometimes the most generous reading of an entitlement, more
often its limit. Each rule is also checked the other way round, "anything but X, then
guess", which is how a test-wise reader beats a bank whose over-promise is always a
trap; with four options both ways can stay far below the limit.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

from content.models import Quiz, QuizQuestion

MAX_GUESS_PASS = 0.05
# Draws simulated per check: the estimate's standard error is well under 0.5 points.
SIMULATED_DRAWS = 4000


def draw(quiz: Quiz, n: int, rng: random.Random) -> list[str]:
    """``n`` question ids spread over the service areas: one per area in turn (areas in
    random order, a random question of each), then shuffled."""
    by_area: dict[str, list[str]] = defaultdict(list)
    for question in quiz.questions:
        by_area[question.area].append(question.id)
    pools = [rng.sample(ids, len(ids)) for ids in by_area.values()]
    rng.shuffle(pools)
    n = min(n, len(quiz.questions))
    picked: list[str] = []
    while len(picked) < n:
        for pool in pools:
            if pool and len(picked) < n:
                picked.append(pool.pop())
    rng.shuffle(picked)
    return picked


def option_order(question: QuizQuestion, rng: random.Random) -> list[str]:
    """The question's option ids in the order one person sees them."""
    ids = [o.id for o in question.options]
    rng.shuffle(ids)
    return ids


@dataclass(frozen=True, slots=True)
class GuessRate:
    strategy: str  # "the first option", "the longest option (en)", ...
    p_pass: float  # probability that a person answering by this rule passes


Rule = Callable[[QuizQuestion], float]
"""Probability that a rule picks the right option of a question."""


_RANKS = ("longest", "2nd longest", "3rd longest")  # the shortest is a rule of its own


def _marked(q: QuizQuestion, locale: str, kind: str) -> list[str]:
    """The options a rule looks at: the generous one, the shortest, or the option of a
    length rank ("longest", "2nd longest", ...; all of them when lengths tie)."""
    if kind == "generous":
        return [q.generous]
    lengths = {o.id: len(o.text.get(locale, "")) for o in q.options}
    distinct = sorted(set(lengths.values()), reverse=True)
    if kind == "shortest":
        target = distinct[-1]
    else:
        rank = _RANKS.index(kind)
        if rank >= len(distinct):
            return []
        target = distinct[rank]
    return [oid for oid, length in lengths.items() if length == target]


def _pick(locale: str, kind: str) -> Rule:
    """Always choose the marked option (a random one of a tie; a random option when
    the question has none, e.g. no 3rd length among three)."""
    def rule(q: QuizQuestion) -> float:
        marked = _marked(q, locale, kind) or [o.id for o in q.options]
        return (q.correct in marked) / len(marked)

    return rule


def _avoid(locale: str, kind: str) -> Rule:
    """Rule the marked option out, then guess among the rest: the test-wise reader's
    rule ("the one that promises the most is always a trap")."""
    def rule(q: QuizQuestion) -> float:
        marked = _marked(q, locale, kind)
        rest = len(q.options) - len(marked)
        return 0.0 if q.correct in marked or rest == 0 else 1 / rest

    return rule


def rules(locales: Sequence[str]) -> dict[str, Rule]:
    """Every fixed rule checked: by position, by generosity, by length rank, and the
    "anything but" forms of the generous, longest and shortest rules."""
    out: dict[str, Rule] = {
        "the first option": lambda q: 1 / len(q.options),
        "the most generous option": _pick("", "generous"),
        "anything but the most generous option": _avoid("", "generous"),
    }
    for locale in locales:
        for kind in (*_RANKS, "shortest"):
            out[f"the {kind} option ({locale})"] = _pick(locale, kind)
        for kind in ("longest", "shortest"):
            out[f"anything but the {kind} option ({locale})"] = _avoid(locale, kind)
    return out


def _p_at_least(ps: Sequence[float], k: int) -> float:
    """P(at least k successes) of independent trials with probabilities ``ps``."""
    dist = [1.0]
    for p in ps:
        nxt = [0.0] * (len(dist) + 1)
        for hits, weight in enumerate(dist):
            nxt[hits] += weight * (1 - p)
            nxt[hits + 1] += weight * p
        dist = nxt
    return sum(dist[k:])


def guess_pass_rates(
    quiz: Quiz,
    locales: Sequence[str],
    n: int,
    pass_mark: float,
    draws: int = SIMULATED_DRAWS,
    seed: int = 0,
) -> list[GuessRate]:
    """For each rule, the probability that it passes a drawn quiz of ``n`` questions."""
    n = min(n, len(quiz.questions))
    needed = math.ceil(pass_mark * n - 1e-9)
    table = {name: {q.id: rule(q) for q in quiz.questions} for name, rule in rules(locales).items()}
    rng = random.Random(seed)
    totals = dict.fromkeys(table, 0.0)
    for _ in range(draws):
        ids = draw(quiz, n, rng)
        for name, p_right in table.items():
            totals[name] += _p_at_least([p_right[i] for i in ids], needed)
    return [GuessRate(name, total / draws) for name, total in totals.items()]
