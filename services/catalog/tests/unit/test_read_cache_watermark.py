"""The follower's watermark: positions commit out of order, so the applied position only
passes a gap once the transactions running when the gap was seen have all ended."""

from __future__ import annotations

from catalog.storage.follower import Watermark

NONE: frozenset[int] = frozenset()


def test_contiguous_positions_advance_and_are_evicted_once() -> None:
    mark = Watermark()
    assert mark.advance([1, 2, 3], NONE) == [1, 2, 3]
    assert mark.applied == 3
    assert mark.advance([], NONE) == []
    assert mark.advance([4], frozenset({77})) == [4]  # unrelated running transactions
    assert mark.applied == 4


def test_a_gap_holds_the_watermark_until_its_transaction_commits() -> None:
    mark = Watermark()
    # Position 2 is allocated by transaction 50, still running; 3 committed first.
    assert mark.advance([1, 3], frozenset({50})) == [1, 3]
    assert mark.applied == 1
    # Transaction 50 still runs: the watermark waits; 3 is not evicted twice.
    assert mark.advance([3], frozenset({50, 60})) == []
    assert mark.applied == 1
    # 50 committed position 2: it is evicted and the watermark passes both.
    assert mark.advance([2, 3], frozenset({60})) == [2]
    assert mark.applied == 3
    assert mark.gaps == {}


def test_a_rolled_back_gap_is_passed_once_its_transactions_ended() -> None:
    mark = Watermark()
    assert mark.advance([1, 3, 4], frozenset({50, 51})) == [1, 3, 4]
    assert mark.applied == 1
    assert mark.advance([3, 4], frozenset({51, 90})) == []  # 51 may still hold position 2
    assert mark.applied == 1
    # Neither 50 nor 51 runs any more and 2 never became visible: it was rolled back.
    assert mark.advance([3, 4], frozenset({90})) == []
    assert mark.applied == 4


def test_a_gap_first_seen_never_passes_in_the_same_round() -> None:
    """Even with no transaction listed as running, one more snapshot is taken first."""
    mark = Watermark()
    mark.advance([1, 3], NONE)
    assert mark.applied == 1
    mark.advance([3], NONE)
    assert mark.applied == 3


def test_startup_is_ready_once_the_transactions_running_at_start_ended() -> None:
    mark = Watermark(applied=10, seen=10, startup=frozenset({7}))
    assert not mark.ready
    mark.advance([11], frozenset({7}))
    assert not mark.ready
    assert mark.applied == 11
    mark.advance([], frozenset({8}))
    assert mark.ready
