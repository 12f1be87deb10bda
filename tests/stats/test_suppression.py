"""Small cells withheld so that no subtraction brings them back."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.stats.suppression import suppress
from tests.stats.test_complementary import rest_can_make


def shown(counts: dict[str, int], threshold: int = 5) -> dict[str, int | None]:
    return {c.key: c.people for c in suppress("city", counts, threshold).groups}


def test_nothing_small_nothing_withheld() -> None:
    result = suppress("city", {"a": 10, "b": 5}, 5)
    assert shown({"a": 10, "b": 5}) == {"a": 10, "b": 5}
    assert result.total == 15 and not result.total_suppressed


def test_one_small_cell_takes_the_next_smallest_with_it() -> None:
    """Else total − the shown cells = the withheld one."""
    assert shown({"a": 10, "b": 3, "c": 7}) == {"a": 10, "b": None, "c": None}
    assert shown({"a": 6, "b": 2}) == {"a": None, "b": None}


def test_two_small_cells_protect_each_other() -> None:
    assert shown({"a": 10, "b": 3, "c": 4}) == {"a": 10, "b": None, "c": None}


def test_a_small_total_is_withheld() -> None:
    result = suppress("city", {"a": 2, "b": 1}, 5)
    assert result.total is None and result.total_suppressed
    assert all(g.suppressed for g in result.groups)


def test_withheld_groups_together_are_not_a_small_group() -> None:
    """Two groups of one person each: the total minus the rest says each has exactly one."""
    assert shown({"a": 1, "b": 1, "c": 10, "d": 20}) == {"a": None, "b": None, "c": None, "d": 20}


def test_when_nothing_is_safe_the_total_goes_too() -> None:
    result = suppress("city", {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}, 5)
    assert result.total is None and all(g.suppressed for g in result.groups)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from("abcde"), st.integers(0, 30), min_size=1))
def test_no_withheld_count_can_be_worked_out(counts: dict[str, int]) -> None:
    """The attacker of test_complementary, on counts alone."""
    result = suppress("city", counts, 5)
    withheld = [g.key for g in result.groups if g.suppressed]
    assert all(g.suppressed for g in result.groups if 0 < counts[g.key] < 5)
    if result.total is None or not withheld:
        return
    left = result.total - sum(g.people or 0 for g in result.groups)
    for key in withheld:
        possible = [n for n in range(1, left + 1) if rest_can_make(len(withheld) - 1, left - n, ())]
        assert counts[key] in possible and len(possible) >= 2, (key, possible)


def test_empty_cells_are_not_secrets() -> None:
    assert shown({"a": 10, "b": 0, "c": 3, "d": 8}) == {"a": 10, "b": 0, "c": None, "d": None}


def test_overlapping_groups_take_their_own_total() -> None:
    result = suppress("service_type", {"a": 8, "b": 6}, 5, total=9)
    assert result.total == 9
