"""Complementary suppression of rates (``outreach.stats.suppression.hide``), proven against
an attacker who sees what a breakdown publishes and tries every value the withheld cells
could have.

A table: groups of ``n`` people (0..30) with two counts among them (knowers on the first and
on the latest attempt), and the total. What is published: every shown group's n and
counts, the total's n and counts unless withheld, and which groups exist (a listed group
has at least one person; an empty group is shown as 0). The attacker does not know the
algorithm's choices, only these numbers and that ``0 <= count <= n``."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from outreach.stats.suppression import hide

K = 5
Row = tuple[int, int, int]  # n, knowers first, knowers latest


@dataclass(frozen=True)
class Published:
    groups: list[Row | None]  # None: withheld
    total: Row | None


def publish(rows: list[Row], threshold: int = K) -> Published:
    hidden = hide([r[0] for r in rows], [[r[1] for r in rows], [r[2] for r in rows]], threshold)
    total = tuple(sum(r[c] for r in rows) for c in range(3))
    return Published(
        groups=[None if i in hidden.groups else r for i, r in enumerate(rows)],
        total=None if hidden.total else total,  # type: ignore[arg-type]
    )


@functools.cache
def rest_can_make(cells: int, people: int, counts: tuple[int, ...]) -> bool:
    """Whether ``cells`` withheld groups (each of at least one person) can hold exactly
    ``people`` people with ``counts`` among them: a search over every split, pruned only
    where no split can exist (fewer people than groups, a count below 0 or above the people)."""
    if cells == 0:
        return people == 0 and all(c == 0 for c in counts)
    if people < cells or any(not 0 <= c <= people for c in counts):
        return False
    for n in range(1, people - cells + 2):
        for ks in itertools.product(*(range(0, min(n, c) + 1) for c in counts)):
            if rest_can_make(cells - 1, people - n, tuple(c - k for c, k in zip(counts, ks, strict=True))):
                return True
    return False


def attack(pub: Published, unbounded: int = 40) -> dict[int, set[Row]]:
    """For each withheld group: every (n, first, latest) consistent with what is published.
    Without a total there is nothing to subtract from: any n from 1 (to ``unbounded``)."""
    withheld = [i for i, g in enumerate(pub.groups) if g is None]
    if pub.total is None:
        values = {(n, a, b) for n in range(1, unbounded + 1) for a in range(n + 1) for b in range(n + 1)}
        return {i: values for i in withheld}
    left = tuple(pub.total[c] - sum(g[c] for g in pub.groups if g is not None) for c in range(3))
    found: dict[int, set[Row]] = {}
    for i in withheld:
        found[i] = {
            (n, a, b)
            for n in range(1, left[0] + 1)
            for a in range(n + 1)
            for b in range(n + 1)
            if rest_can_make(len(withheld) - 1, left[0] - n, (left[1] - a, left[2] - b))
        }
    return found


@st.composite
def tables(draw: st.DrawFn) -> list[Row]:
    rows = []
    for _ in range(draw(st.integers(1, 5))):
        n = draw(st.integers(0, 30))
        rows.append((n, draw(st.integers(0, n)), draw(st.integers(0, n))))
    return rows


@settings(max_examples=300, deadline=None)
@given(tables())
@example([(3, 1, 2), (10, 5, 5), (12, 6, 9)])  # one small group among bigger ones
@example([(3, 0, 0), (6, 0, 0), (12, 6, 9)])  # the two smallest together: nobody knows
@example([(1, 0, 0), (1, 1, 1), (1, 0, 1), (1, 1, 0), (1, 0, 0), (1, 1, 1)])  # all of one
@example([(2, 0, 0), (20, 0, 0)])  # no one knows, anywhere
@example([(4, 4, 4), (6, 6, 6), (30, 30, 30)])  # everyone knows, everywhere
@example([(0, 0, 0), (3, 1, 1), (9, 2, 3)])
def test_no_withheld_value_can_be_worked_out(rows: list[Row]) -> None:
    pub = publish(rows)
    total_n = sum(r[0] for r in rows)
    # Primary suppression: every small group, and a small total.
    for i, r in enumerate(rows):
        if 0 < r[0] < K:
            assert pub.groups[i] is None
        if r[0] == 0:
            assert pub.groups[i] == r, "an empty group hides nobody"
    if total_n < K:
        assert pub.total is None
    withheld = [i for i, g in enumerate(pub.groups) if g is None]
    if pub.total is not None and withheld:
        assert len(withheld) >= 2, "one withheld group would be the total minus the rest"
        assert sum(rows[i][0] for i in withheld) >= K, "together they are not a small group"
    # The attacker: each withheld group's n, each count and each rate has two values at least.
    found = attack(pub)
    for i in withheld:
        assert rows[i] in found[i], "the attacker's model admits the truth"
        for what, values in (
            ("n", {v[0] for v in found[i]}),
            ("knowers first", {v[1] for v in found[i]}),
            ("knowers latest", {v[2] for v in found[i]}),
            ("rate first", {v[1] / v[0] for v in found[i]}),
            ("rate latest", {v[2] / v[0] for v in found[i]}),
        ):
            assert len(values) >= 2, f"group {i}'s {what} is recoverable: {values}"


def test_the_attackers_split_is_a_real_brute_force() -> None:
    """``rest_can_make`` against every table of up to three groups of up to four people."""
    for cells in range(4):
        reachable = {(0, 0, 0)} if cells == 0 else set()
        if cells:
            for ns in itertools.product(range(1, 5), repeat=cells):
                for ka in itertools.product(*(range(n + 1) for n in ns)):
                    for kb in itertools.product(*(range(n + 1) for n in ns)):
                        reachable.add((sum(ns), sum(ka), sum(kb)))
        for people, a, b in itertools.product(range(13), repeat=3):
            if people <= 4 * cells or cells == 0:
                assert rest_can_make(cells, people, (a, b)) == ((people, a, b) in reachable)


def shown(rows: list[Row]) -> tuple[list[int | None], int | None]:
    pub = publish(rows)
    return [None if g is None else g[0] for g in pub.groups], None if pub.total is None else pub.total[0]


def test_one_small_group_takes_the_next_smallest_with_it() -> None:
    assert shown([(12, 6, 9), (3, 1, 2), (10, 5, 5), (8, 4, 4)]) == ([12, None, 10, None], 33)


def test_nothing_small_nothing_withheld() -> None:
    assert shown([(5, 0, 5), (9, 9, 0)]) == ([5, 9], 14)


def test_two_small_groups_that_are_together_still_small_take_a_third() -> None:
    assert shown([(1, 0, 1), (2, 1, 1), (10, 5, 5), (20, 5, 5)]) == ([None, None, None, 20], 33)


def test_withheld_groups_where_no_one_knows_take_another() -> None:
    """Else each of them would be known to be 0%."""
    assert shown([(3, 0, 0), (6, 0, 0), (12, 6, 9), (30, 1, 1)]) == ([None, None, None, 30], 51)
    # The same on the latest side only.
    assert shown([(3, 0, 3), (6, 1, 6), (12, 6, 9), (30, 1, 1)]) == ([None, None, None, 30], 51)


def test_a_small_total_is_withheld() -> None:
    assert shown([(2, 1, 1), (1, 0, 1)]) == ([None, None], None)


def test_when_no_split_is_safe_the_total_goes_too() -> None:
    """No one knows anywhere: any withheld group would be known to be 0%."""
    assert shown([(2, 0, 0), (20, 0, 0), (9, 0, 0)]) == ([None, None, None], None)


def test_counts_must_fit_their_groups() -> None:
    with pytest.raises(ValueError):
        hide([3], [[4]], K)
    with pytest.raises(ValueError):
        hide([3, 4], [[1]], K)
