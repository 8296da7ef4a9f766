"""Status digests per id range: timestamped changes are explained row by row, silent ones re-emit the range."""

from __future__ import annotations

from typing import Optional

from hypothesis import assume, given
from hypothesis import strategies as s

from source_listmonk.digest import MAX_EXPLAINED_ROWS, STATUSES, RangeRow, range_digest, range_end, range_of, rows_to_emit

Key = tuple[int, int]
statuses = s.sampled_from(STATUSES)
# A range's subscriptions before the change: (subscriber id, list id) -> status.
tables = s.dictionaries(
    s.tuples(s.integers(min_value=0, max_value=999), s.integers(min_value=1, max_value=5)), statuses, max_size=40
)


def row(key: Key, status: str, *, touched: bool = False, moved: Optional[bool] = None) -> RangeRow:
    record = {"subscriber_id": key[0], "list_id": key[1], "subscription_status": status}
    return RangeRow(record, key[0], key[1], status, touched, touched if moved is None else moved)


def digest_of(table: dict[Key, str]) -> int:
    return range_digest((sid, lid, status) for (sid, lid), status in table.items())


def emitted_keys(records: list[dict]) -> set[Key]:
    return {(r["subscriber_id"], r["list_id"]) for r in records}


@given(tables)
def test_given_nothing_changed_then_nothing_is_emitted(before: dict[Key, str]) -> None:
    records, new = rows_to_emit([row(k, v) for k, v in before.items()], digest_of(before))
    assert records == [] and new == digest_of(before)


@given(tables, s.data())
def test_given_timestamped_changes_then_exactly_those_rows_are_emitted(before: dict[Key, str], data: s.DataObject) -> None:
    keys = sorted(before)
    changed = data.draw(s.lists(s.sampled_from(keys), unique=True, max_size=MAX_EXPLAINED_ROWS) if keys else s.just([]))
    added = data.draw(s.lists(s.tuples(s.integers(1000, 1999), s.integers(1, 5)), unique=True, max_size=2))
    added = [key for key in added if key not in before][: MAX_EXPLAINED_ROWS - len(changed)]
    after = dict(before)
    for key in changed:
        after[key] = data.draw(statuses)
    for key in added:
        after[key] = data.draw(statuses)
    touched = set(changed) | set(added)
    rows = [row(k, v, touched=k in touched) for k, v in after.items()]
    records, new = rows_to_emit(rows, digest_of(before))
    assert emitted_keys(records) == touched
    assert new == digest_of(after)


@given(tables, s.data())
def test_given_a_silent_status_change_then_the_whole_range_is_emitted(before: dict[Key, str], data: s.DataObject) -> None:
    assume(before)
    key = data.draw(s.sampled_from(sorted(before)))
    after = {**before, key: data.draw(statuses.filter(lambda status: status != before[key]))}
    records, _ = rows_to_emit([row(k, v) for k, v in after.items()], digest_of(before))
    assert emitted_keys(records) == set(after)


@given(tables, s.data())
def test_given_a_deleted_subscription_then_the_rest_of_the_range_is_emitted(before: dict[Key, str], data: s.DataObject) -> None:
    assume(len(before) > 1)
    gone = data.draw(s.sampled_from(sorted(before)))
    after = {k: v for k, v in before.items() if k != gone}
    records, _ = rows_to_emit([row(k, v) for k, v in after.items()], digest_of(before))
    assert emitted_keys(records) == set(after)


@given(tables)
def test_given_no_baseline_then_only_moved_rows_are_emitted(table: dict[Key, str]) -> None:
    rows = [row(k, v, moved=(k[0] % 2 == 0)) for k, v in table.items()]
    records, _ = rows_to_emit(rows, None)
    assert emitted_keys(records) == {k for k in table if k[0] % 2 == 0}


def test_a_subscriber_or_list_change_emits_the_row_without_touching_the_digest() -> None:
    before = {(3, 1): "confirmed", (4, 1): "confirmed"}
    rows = [row((3, 1), "confirmed", moved=True), row((4, 1), "confirmed")]
    records, _ = rows_to_emit(rows, digest_of(before))
    assert emitted_keys(records) == {(3, 1)}


@given(s.integers(min_value=1, max_value=10**12))
def test_every_id_falls_inside_its_range(subscriber_id: int) -> None:
    index = range_of(subscriber_id)
    assert range_end(index - 1) < subscriber_id <= range_end(index)
