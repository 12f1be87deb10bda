"""Small-cell suppression for counts of people, shared by every aggregate coordinators see.

A cell under the threshold is withheld. So that it cannot be recovered by subtracting the
shown cells from the shown total, a breakdown with exactly one withheld cell also withholds
the next smallest (complementary suppression), and a total is withheld when it is itself
small."""

from __future__ import annotations

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
    people of all groups together, when a person can be in several (else the sum)."""
    hidden = {k for k, n in counts.items() if 0 < n < threshold}
    if len(hidden) == 1:
        shown = sorted((n, k) for k, n in counts.items() if k not in hidden and n > 0)
        if shown:
            hidden.add(shown[0][1])
    if total is None:
        total = sum(counts.values())
    small_total = 0 < total < threshold
    return Counts(
        group_by=group_by,
        total=None if small_total else total,
        total_suppressed=small_total,
        groups=[Count(key=k, people=None if k in hidden else n, suppressed=k in hidden)
                for k, n in sorted(counts.items())],
    )
