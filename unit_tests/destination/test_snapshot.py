"""The export snapshot only ever spares a lookup when the planner would agree: certainly new, or certainly
nothing to write."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Generator, Iterator
from typing import Any, Optional

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from destination_listmonk.config import STRATEGY_CAPABILITIES
from destination_listmonk.mapping import Desired
from destination_listmonk.paths import canonical_numbers, drop_nulls
from destination_listmonk.protection import Rules, plan
from destination_listmonk import snapshot as snapshot_module
from destination_listmonk.snapshot import (
    AUTO_MAX_SUBSCRIBERS, WHOLE_DATASET_START_RECORDS, LoadCancelled, MalformedExport, Snapshot, SnapshotLoader,
    SnapshotPolicy, Verdict, WrittenEmails, _Table, export_table, fingerprint,
)
from listmonk_emulator.gojson import go_number, go_values
from listmonk_client.errors import ConnectionFailed
from listmonk_client.models import Subscriber


def export_row(subscriber: Subscriber) -> tuple[str, str, str, str]:
    return subscriber.email, subscriber.name, json.dumps(subscriber.attribs), subscriber.status


def held(**fields: Any) -> Subscriber:
    base: dict[str, Any] = {"id": 1, "email": "ann@example.com", "name": "Ann", "attribs": {"plan": "pro"}, "status": "enabled"}
    return Subscriber(**{**base, **fields})


def desired(**fields: Any) -> Desired:
    base: dict[str, Any] = {"position": 1, "key": "ann@example.com", "email": "ann@example.com", "name": "Ann",
                            "attribs": {"plan": "pro"}}
    return Desired(**{**base, **fields})


def snapshot(*subscribers: Subscriber, compare_status: bool = False) -> Snapshot:
    return Snapshot.from_export([export_row(s) for s in subscribers], compare_name=True, compare_status=compare_status)


def test_given_unknown_email_then_new() -> None:
    assert snapshot(held()).judge(desired(email="bo@example.com", key="bo@example.com")) is Verdict.NEW


def test_given_identical_profile_then_unchanged_and_any_difference_is_looked_up() -> None:
    snap = snapshot(held())
    assert snap.judge(desired()) is Verdict.UNCHANGED
    assert snap.judge(desired(name="Ann B")) is Verdict.LOOK_UP
    assert snap.judge(desired(attribs={"plan": "free"})) is Verdict.LOOK_UP
    assert snap.judge(desired(name=None)) is Verdict.LOOK_UP


def test_given_status_compared_then_a_blocklisted_subscriber_sent_enabled_is_looked_up_for_the_audit() -> None:
    snap = snapshot(held(status="blocklisted"), compare_status=True)
    assert snap.judge(desired(status="enabled")) is Verdict.LOOK_UP
    assert snap.judge(desired(status="blocklisted")) is Verdict.UNCHANGED


def test_given_written_in_this_sync_or_deleted_then_looked_up() -> None:
    snap = snapshot(held())
    snap.written.add("new@example.com")
    assert snap.judge(desired(email="new@example.com", key="new@example.com")) is Verdict.LOOK_UP
    assert snap.judge(desired(deleted=True)) is Verdict.LOOK_UP


@pytest.mark.parametrize("attributes", ["{broken", None, "[1]"], ids=["bad JSON", "row cut short", "not an object"])
def test_given_unreadable_attributes_in_the_export_then_looked_up(attributes: Optional[str]) -> None:
    snap = Snapshot.from_export([("ann@example.com", "Ann", attributes, "enabled")], compare_name=True, compare_status=False)
    assert snap.judge(desired(attribs={})) is Verdict.LOOK_UP
    assert snap.judge(desired()) is Verdict.LOOK_UP


def test_given_a_row_without_an_email_then_the_export_is_refused() -> None:
    with pytest.raises(MalformedExport):
        Snapshot.from_export([("ann@example.com", "Ann", "{}", "enabled"), (None, None, None, None)],
                             compare_name=True, compare_status=False)


def test_given_an_email_twice_in_the_export_then_it_is_looked_up() -> None:
    snap = snapshot(held(), held(id=2, email=" ANN@example.com"), held(id=3, email="bo@example.com"))
    assert len(snap) == 2
    assert snap.judge(desired()) is Verdict.LOOK_UP
    assert snap.judge(desired(email="bo@example.com", key="bo@example.com")) is Verdict.UNCHANGED


def test_many_subscribers_are_each_found_with_their_own_profile() -> None:
    people = [held(id=i, email=f"p{i}@example.com", name=f"P{i}") for i in range(70_000)]
    snap = snapshot(*people)
    assert len(snap) == 70_000
    for i in (0, 1, 34_567, 69_999):
        email = f"p{i}@example.com"
        assert snap.judge(desired(email=email, key=email, name=f"P{i}")) is Verdict.UNCHANGED
        assert snap.judge(desired(email=email, key=email, name=f"P{i + 1}")) is Verdict.LOOK_UP
    assert snap.judge(desired(email="p70000@example.com", key="p70000@example.com")) is Verdict.NEW


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=4), max_size=60),
       st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=4), max_size=20))
def test_property_every_held_email_is_found_and_no_other(held_locals: list[str], asked: list[str]) -> None:
    people = [held(id=i, email=f"{local}@example.com") for i, local in enumerate(held_locals)]
    snap = snapshot(*people)
    assert len(snap) == len(set(held_locals))
    twice = {local for local in held_locals if held_locals.count(local) > 1}
    for local in held_locals + asked:
        email = f"{local}@example.com"
        verdict = snap.judge(desired(email=email, key=email))
        expected = Verdict.NEW if local not in held_locals else Verdict.LOOK_UP if local in twice else Verdict.UNCHANGED
        assert verdict is expected


LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["a", "b"]))
ATTRIBS = st.dictionaries(st.sampled_from(["plan", "vip", "x"]), st.one_of(LEAF, st.dictionaries(st.sampled_from(["t", "u"]), LEAF, max_size=2)), max_size=3)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["Ann", "Bea"]), ATTRIBS, st.sampled_from(["enabled", "disabled", "blocklisted"]),
    st.one_of(st.none(), st.sampled_from(["Ann", "Bea"])), ATTRIBS, st.one_of(st.none(), st.sampled_from(["enabled", "blocklisted"])),
    st.sampled_from(["profiles_only", "update_only", "create_only"]), st.sets(st.sampled_from(["name", "attribs.vip", "status"])),
    st.sampled_from(["deep_merge", "replace"]), st.booleans(),
)
def test_property_unchanged_verdict_means_the_planner_writes_nothing(
    name: str, attribs: dict[str, Any], status: str, want_name: Optional[str], want_attribs: dict[str, Any],
    want_status: Optional[str], mode: str, protected: set[str], merge: str, same_attribs: bool,
) -> None:
    if same_attribs:  # make "unchanged" common enough to test, not a lucky draw
        attribs = drop_nulls(attribs)
        want_name, want_attribs, want_status = name, dict(attribs), status
    current = held(name=name, attribs=attribs, status=status)
    want = desired(name=want_name, attribs=want_attribs, status=want_status)
    rules = Rules(mode=mode, capabilities=STRATEGY_CAPABILITIES[mode], protected=frozenset(protected), attribute_merge=merge)
    verdict = snapshot(current, compare_status=True).judge(want)
    if verdict is Verdict.UNCHANGED:
        result = plan(want, current, rules)
        assert result.ops == () and result.skipped == ()
    assert verdict is not Verdict.NEW
    event(f"verdict {verdict.value}")


class CountingHeld:
    def __init__(self, held: int) -> None:
        self.held, self.calls = held, 0

    def __call__(self) -> int:
        self.calls += 1
        return self.held


def test_auto_snapshot_starts_at_a_22nd_of_listmonk_is_waited_for_at_an_11th_and_counts_once() -> None:
    policy, count = SnapshotPolicy("auto", min_records=5000), CountingHeld(132_000)
    assert not policy.start_due(4999, count) and not policy.wait_due(4999, count)
    assert count.calls == 0  # a small sync never even asks
    assert [policy.start_due(seen, count) for seen in (5000, 5999, 6000)] == [False, False, True]
    assert [policy.wait_due(seen, count) for seen in (6000, 11_999, 12_000, 50_000)] == [False, False, True, True]
    assert count.calls == 1


def test_auto_snapshot_is_never_taken_of_a_listmonk_too_big_to_hold_and_the_fixed_modes_ignore_sizes() -> None:
    too_big = SnapshotPolicy("auto", 10)
    assert not too_big.start_due(10**9, CountingHeld(AUTO_MAX_SUBSCRIBERS + 1))
    assert not too_big.wait_due(10**9, CountingHeld(AUTO_MAX_SUBSCRIBERS + 1))
    assert SnapshotPolicy("auto", 10).wait_due(AUTO_MAX_SUBSCRIBERS, CountingHeld(AUTO_MAX_SUBSCRIBERS))
    huge = CountingHeld(10**9)
    always, never = SnapshotPolicy("always", 5000), SnapshotPolicy("never", 1)
    assert always.start_due(0, huge) and always.wait_due(0, huge)
    assert not never.start_due(10**9, huge) and not never.wait_due(10**9, huge)
    assert huge.calls == 0


def test_auto_snapshot_of_a_full_refresh_starts_after_1000_records_and_is_waited_for_once_a_batch_shows_a_resync(
) -> None:
    policy, count = SnapshotPolicy("auto", min_records=5000, whole_dataset=True), CountingHeld(1_000_000)
    assert policy.start_records == WHOLE_DATASET_START_RECORDS == 1000
    assert not policy.start_due(999, count) and count.calls == 0
    assert policy.start_due(1000, count)
    # A batch smaller than that: the first batch.
    assert SnapshotPolicy("auto", min_records=100, whole_dataset=True).start_records == 100
    # Waited for only once a full batch was looked up and at least half of it was in listmonk.
    assert [policy.wait_due(10_000, count, found, looked) for found, looked in
            ((0, 0), (4999, 4999), (2499, 5000), (2500, 5000), (9000, 10_000))] == [False, False, False, True, True]
    mostly_new = SnapshotPolicy("auto", min_records=5000, whole_dataset=True)
    assert not mostly_new.wait_due(50_000, count, 100, 50_000)  # the cost rule: not before an 11th of listmonk
    assert mostly_new.wait_due(100_000, count, 100, 100_000)
    incremental = SnapshotPolicy("auto", min_records=5000)
    assert not incremental.start_due(5000, count) and not incremental.wait_due(10_000, count, 10_000, 10_000)
    assert incremental.start_records == 0 == SnapshotPolicy("always", 5000, whole_dataset=True).start_records
    huge = SnapshotPolicy("auto", min_records=10, whole_dataset=True)
    assert not huge.start_due(10**6, CountingHeld(AUTO_MAX_SUBSCRIBERS + 1))
    assert count.calls == 3  # once a policy


def test_a_full_refresh_probed_with_one_lookup_call_waits_for_the_export_from_the_first_batch() -> None:
    count = CountingHeld(1_000_000)
    probed = SnapshotPolicy("auto", min_records=10_000, whole_dataset=True, probe_records=150)
    assert probed.probes and not SnapshotPolicy("auto", 10_000).probes and not SnapshotPolicy("always", 10, True).probes
    assert [probed.wait_due(10_000, count, found, looked) for found, looked in
            ((149, 149), (74, 150), (75, 150), (150, 150))] == [False, False, True, True]
    # A batch smaller than one lookup call is probed whole.
    small = SnapshotPolicy("auto", min_records=100, whole_dataset=True, probe_records=150)
    assert [small.wait_due(100, count, found, looked) for found, looked in ((99, 99), (50, 100))] == [False, True]


def test_at_the_end_of_the_input_the_export_is_waited_for_only_if_the_records_left_cost_more_than_its_rest() -> None:
    count = CountingHeld(110_000)
    auto = SnapshotPolicy("auto", min_records=100, whole_dataset=True)
    assert [auto.worth_finishing(left, rows_read, count) for left, rows_read in
            ((9999, 0), (10_000, 0), (1000, 98_999), (1000, 99_000))] == [False, True, False, True]
    assert SnapshotPolicy("always", 100).worth_finishing(1, 0, count)
    assert not SnapshotPolicy("never", 100).worth_finishing(10**9, 0, count)
    assert count.calls == 1


def test_a_policy_given_up_never_wants_the_export_again() -> None:
    policy = SnapshotPolicy("always", 1)
    policy.give_up()
    assert not policy.start_due(10**6, CountingHeld(1)) and not policy.wait_due(10**6, CountingHeld(1))


class EndlessExport:
    """A client whose export never ends, as a huge one would not before the sync does."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def export_subscribers(self, columns: Any) -> Generator[tuple[str, str, str, str], None, None]:
        try:
            for i in itertools.count():
                yield f"p{i}@example.com", "P", "{}", "enabled"
        finally:
            self.closed.set()


class FailingExport:
    def export_subscribers(self, columns: Any) -> Generator[tuple[str, str, str, str], None, None]:
        yield "ann@example.com", "Ann", "{}", "enabled"
        raise ConnectionFailed(method="GET", path="/api/subscribers/export", status=None, message="stream broke off")


def test_a_background_export_cancelled_stops_reading_and_closes_the_stream() -> None:
    client = EndlessExport()
    loader = SnapshotLoader(client, compare_name=True, compare_status=False)  # type: ignore[arg-type]
    assert not loader.done()
    loader.cancel()
    assert loader.done() and client.closed.is_set()
    with pytest.raises(LoadCancelled):
        loader.result()


def test_a_background_export_that_fails_hands_its_error_to_the_sync() -> None:
    loader = SnapshotLoader(FailingExport(), compare_name=True, compare_status=False)  # type: ignore[arg-type]
    with pytest.raises(ConnectionFailed, match="broke off"):
        loader.result()


class SmallTable(_Table):
    _MIN_SLOTS = 4  # so that a few keys make it grow, again and again


# Keys sharing their low bits (which pick a slot) in few patterns, so that most collide, some added more than once,
# 0 (which marks an empty slot) among them; enough of them that the table grows.
TABLE_KEYS = st.builds(lambda high, low: (high << 40) | low, st.sampled_from([0, 1, 2**24 - 1]), st.integers(0, 40))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(TABLE_KEYS, st.integers(1, 2**64 - 1)), max_size=80), st.lists(TABLE_KEYS, max_size=10),
       st.sampled_from([0, 20, 1000]))
def test_property_the_table_holds_each_key_with_its_value_and_a_key_added_twice_as_ambiguous(
    entries: list[tuple[int, int]], asked: list[int], sized_for: int
) -> None:
    table = SmallTable(sized_for)
    for key, value in entries:
        table.add(key, value)
    values: dict[int, list[int]] = {}
    for key, value in entries:
        values.setdefault(key, []).append(value)
    assert len(table) == len(values)
    for key in [key for key, _ in entries] + asked:
        expected = None if key not in values else values[key][0] if len(values[key]) == 1 else _Table.AMBIGUOUS
        assert table.get(key) == expected


class SmallWrittenEmails(WrittenEmails):
    _MIN_SLOTS = 4


@settings(max_examples=300, deadline=None)
@given(st.lists(TABLE_KEYS, max_size=80), st.lists(TABLE_KEYS, max_size=10))
def test_property_the_written_emails_hold_exactly_the_hashes_written(written: list[int], asked: list[int]) -> None:
    emails = SmallWrittenEmails()
    for email_hash in written:
        emails._add(email_hash)
    for email_hash in written + asked:
        assert emails.holds(email_hash) == (email_hash in written)


def test_written_emails_are_told_from_the_others_after_many_writes() -> None:
    emails = WrittenEmails()
    for i in range(50_000):
        emails.add(f"w{i}@example.com")
    hashes = [snapshot_module._hash64(f"{prefix}{i}@example.com") for prefix in ("w", "u") for i in range(50_000)]
    assert [emails.holds(h) for h in hashes] == [True] * 50_000 + [False] * 50_000


def test_the_table_of_the_rows_read_so_far_is_handed_on_at_8192_rows_then_each_time_they_have_doubled() -> None:
    sizes: list[int] = []
    rows = [(f"p{i}@example.com", "P", "{}", "enabled") for i in range(40_000)]
    export_table(rows, True, False, publish=lambda table: sizes.append(len(table)))
    assert sizes == [8192, 16_384, 32_768]


class CountedRows:
    """Export rows that count how many were read, and can set an event on reading a given row."""

    def __init__(self, count: int, cancel_at: Optional[int] = None, cancelled: Optional[threading.Event] = None) -> None:
        self.read, self._count, self._cancel_at, self._cancelled = 0, count, cancel_at, cancelled

    def __iter__(self) -> Iterator[tuple[str, str, str, str]]:
        for i in range(self._count):
            if i == self._cancel_at and self._cancelled is not None:
                self._cancelled.set()
            self.read += 1
            yield f"p{i}@example.com", "P", "{}", "enabled"


def test_a_background_parse_hands_the_gil_over_every_256_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr(snapshot_module.time, "sleep", pauses.append)
    snap = Snapshot.from_export(CountedRows(1000), compare_name=True, compare_status=False, cancelled=threading.Event())
    assert len(snap) == 1000 and pauses == [0, 0, 0, 0]  # before rows 0, 256, 512 and 768
    pauses.clear()
    Snapshot.from_export(CountedRows(1000), compare_name=True, compare_status=False)
    assert pauses == []  # a parse on the sync's own thread has no one to hand the GIL to


def test_a_background_parse_stops_at_its_next_pause_once_cancelled() -> None:
    cancelled = threading.Event()
    rows = CountedRows(10_000, cancel_at=300, cancelled=cancelled)
    with pytest.raises(LoadCancelled):
        Snapshot.from_export(rows, compare_name=True, compare_status=False, cancelled=cancelled)
    assert rows.read == 513  # the pause before row 512 saw it


# --- numbers, which listmonk holds as Go float64s and gives back in Go's shortest form -----------------------

NUMBERS = st.one_of(
    st.integers(-2**70, 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([6.196429204330906e16, 61964292043309060, 1.0, -0.0, 2.5, 2**53, 2**53 + 1, float(2**53),
                     2**60 + 1, 1152921504606847000, 1e21, 10**21, 1e-7, 10**400]),
)
JSON_WITH_NUMBERS = st.recursive(
    st.one_of(NUMBERS, st.text(max_size=4), st.booleans(), st.none()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=500, deadline=None)
@given(NUMBERS, NUMBERS)
def test_property_two_numbers_have_one_canonical_form_exactly_when_listmonk_gives_them_back_alike(
    first: Any, second: Any
) -> None:
    alike = go_number(first) == go_number(second)
    one, other = canonical_numbers(first), canonical_numbers(second)
    assert (one == other and type(one) is type(other)) == alike
    given_back = canonical_numbers(go_number(first))
    assert given_back == one and type(given_back) is type(one)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["Ann", "J. Smith", "v1.0, beta"]),
       st.dictionaries(st.text(max_size=3), JSON_WITH_NUMBERS, max_size=4), NUMBERS, NUMBERS)
def test_property_a_profile_and_what_listmonk_gives_back_for_it_have_one_fingerprint(
    name: str, attribs: dict[str, Any], first: Any, second: Any
) -> None:
    assert fingerprint(name, attribs, None) == fingerprint(name, go_values(attribs), None)
    alike = go_number(first) == go_number(second)
    if fingerprint(name, {"n": first}, None) is not None:
        assert (fingerprint(name, {"n": first}, None) == fingerprint(name, {"n": second}, None)) == alike
