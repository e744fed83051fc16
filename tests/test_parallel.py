"""Sharing work among threads (impl_numpy/parallel.py)."""

import pytest

from impl_numpy.parallel import THREADS_VARIABLE, map_shares, thread_count


@pytest.mark.parametrize("threads, items", [("1", 5), ("2", 5), ("3", 7), ("4", 2)])
def test_map_shares_covers_every_item_once_in_order(monkeypatch, threads, items):
    monkeypatch.setenv(THREADS_VARIABLE, threads)
    shares = map_shares(list, list(range(items)))
    assert len(shares) == min(int(threads), items)
    assert all(shares)  # no empty share
    assert [item for share in shares for item in share] == list(range(items))


def test_map_shares_keeps_min_share_items_per_share(monkeypatch):
    monkeypatch.setenv(THREADS_VARIABLE, "4")
    assert [len(share) for share in map_shares(list, list(range(10)), min_share=4)] == [5, 5]
    assert map_shares(list, list(range(3)), min_share=4) == [[0, 1, 2]]


@pytest.mark.parametrize("value", ["0", "two", "-1", ""])
def test_a_bad_thread_count_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(THREADS_VARIABLE, value)
    with pytest.raises(ValueError, match=THREADS_VARIABLE):
        thread_count()


def test_thread_count_defaults_to_the_usable_cores(monkeypatch):
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    assert thread_count() >= 1
