"""Small cells withheld so that no subtraction brings them back."""

from __future__ import annotations

from outreach.stats.suppression import suppress


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


def test_empty_cells_are_not_secrets() -> None:
    assert shown({"a": 10, "b": 0, "c": 3, "d": 8}) == {"a": 10, "b": 0, "c": None, "d": None}


def test_overlapping_groups_take_their_own_total() -> None:
    result = suppress("service_type", {"a": 8, "b": 6}, 5, total=9)
    assert result.total == 9
