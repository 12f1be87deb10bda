"""Small-cell suppression for counts of people, shared by every aggregate coordinators see.

A cell under the threshold is withheld. So that it cannot be recovered by subtracting the
shown cells from the shown total, a breakdown with exactly one withheld cell also withholds
the next smallest (complementary suppression), and a total is withheld when it is itself
small. ``suppress`` does this for plain counts of people; ``hide`` for rates (people and
counts among them per group, as the knowledge rate), where neither may be recoverable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel


class Count(BaseModel):
    key: str
    people: int | None  # None: withheld
    suppressed: bool


class Counts(BaseModel):
    """A breakdown of unique people, with its total."""

    group_by: str
    total: int | None
    total_suppressed: bool
    groups: list[Count]


def suppress(group_by: str, counts: dict[str, int], threshold: int, total: int | None = None) -> Counts:
    """``counts`` (key → unique people) as cells safe to show. ``total``: the unique
    people of all groups together, when a person can be in several (else the sum).

    Disjoint groups (no ``total``) follow ``hide``: the withheld groups together are at
    least two, at least ``threshold`` people and more people than groups, so that the
    total minus the shown groups gives none of them back; else the total is withheld too.
    Overlapping groups keep the simpler rule (a second group withheld with a lone one):
    their total is not the sum, so it does not give a group back by subtraction."""
    keys = sorted(counts)
    if total is None:
        decision = hide([counts[k] for k in keys], [], threshold)
        hidden = {keys[i] for i in decision.groups}
        total = sum(counts.values())
        small_total = decision.total and total > 0
    else:
        hidden = {k for k, n in counts.items() if 0 < n < threshold}
        if len(hidden) == 1:
            shown = sorted((n, k) for k, n in counts.items() if k not in hidden and n > 0)
            if shown:
                hidden.add(shown[0][1])
        small_total = 0 < total < threshold
    return Counts(
        group_by=group_by,
        total=None if small_total else total,
        total_suppressed=small_total,
        groups=[Count(key=k, people=None if k in hidden else counts[k], suppressed=k in hidden)
                for k in keys],
    )


# --- Rates: groups with a count of people and counts among them ---------------------------


@dataclass(frozen=True)
class Hidden:
    """Which cells of a breakdown to withhold (see ``hide``)."""

    groups: frozenset[int]  # indexes into the breakdown
    total: bool


def _safe(ns: Sequence[int], columns: Sequence[Sequence[int]], hidden: set[int], threshold: int) -> bool:
    """Whether the withheld groups, with the total and the shown groups published, are
    safe: what subtraction gives (the withheld groups taken together) is at least two
    groups, at least ``threshold`` people, more people than groups (else each has exactly
    one), and neither none nor all of them counted in any column (else each group's rate
    is known: 0% or 100%)."""
    if not hidden:
        return True
    people = sum(ns[i] for i in hidden)
    if len(hidden) < 2 or people < threshold or people <= len(hidden):
        return False
    return all(0 < sum(column[i] for i in hidden) < people for column in columns)


def hide(ns: Sequence[int], columns: Sequence[Sequence[int]], threshold: int) -> Hidden:
    """Which cells to withhold in a breakdown of people into disjoint groups.

    ``ns``: people per group (the total is their sum); ``columns``: counts among those
    people per group (e.g. knowers on the first and on the latest attempt), each
    ``0 <= count <= n``. A withheld group withholds its ``n`` and every count of it; a
    withheld total likewise. One decision covers every column, so that a group shown in
    one column is shown in all of them.

    1. Primary: a group of fewer than ``threshold`` people is withheld; an empty group is
       shown (0 people: nothing to hide), and never chosen as a complement.
    2. A total of fewer than ``threshold`` people is withheld (then so is every non-empty
       group, each being smaller still), and there is nothing to subtract from.
    3. Complementary: while the withheld groups are not safe (``_safe``), the smallest
       shown non-empty group is withheld too (ties: the first).
    4. If even every non-empty group withheld is not safe (everyone or no one counted, or
       every group of exactly one person), the total is withheld as well.
    """
    if any(len(c) != len(ns) or any(not 0 <= k <= n for k, n in zip(c, ns, strict=True)) for c in columns):
        raise ValueError("each count must be between 0 and its group's n")
    present = [i for i, n in enumerate(ns) if n > 0]
    primary = {i for i in present if ns[i] < threshold}
    if sum(ns) < threshold:
        return Hidden(groups=frozenset(primary), total=True)
    hidden = set(primary)
    candidates = sorted((i for i in present if i not in hidden), key=lambda i: (ns[i], i))
    while not _safe(ns, columns, hidden, threshold):
        if not candidates:
            return Hidden(groups=frozenset(present), total=True)
        hidden.add(candidates.pop(0))
    return Hidden(groups=frozenset(hidden), total=False)
