"""The export snapshot only ever spares a lookup when the planner would agree: certainly new, or certainly
nothing to write."""

from __future__ import annotations

import json
from typing import Any, Optional

from hypothesis import event, given, settings
from hypothesis import strategies as st

from destination_listmonk.config import STRATEGY_CAPABILITIES
from destination_listmonk.mapping import Desired
from destination_listmonk.paths import drop_nulls
from destination_listmonk.protection import Rules, plan
from destination_listmonk.snapshot import AUTO_MAX_SUBSCRIBERS, Snapshot, SnapshotPolicy, Verdict
from listmonk_client.models import Subscriber


def export_row(subscriber: Subscriber) -> dict[str, str]:
    return {"email": subscriber.email, "name": subscriber.name, "attributes": json.dumps(subscriber.attribs),
            "status": subscriber.status}


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


def test_given_unreadable_attributes_in_the_export_then_looked_up() -> None:
    snap = Snapshot.from_export([{"email": "ann@example.com", "name": "Ann", "attributes": "{broken", "status": "enabled"}],
                                compare_name=True, compare_status=False)
    assert snap.judge(desired()) is Verdict.LOOK_UP


def test_table_grows_past_its_first_capacity() -> None:
    people = [held(id=i, email=f"p{i}@example.com") for i in range(70_000)]
    snap = snapshot(*people)
    assert len(snap) == 70_000
    assert snap.judge(desired(email="p69999@example.com", key="p69999@example.com")) is Verdict.UNCHANGED


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


def test_auto_snapshot_waits_for_a_full_batch_and_a_tenth_of_listmonk_then_counts_once() -> None:
    policy, count = SnapshotPolicy("auto", min_records=5000), CountingHeld(120_000)
    assert not policy.wanted(4999, count) and count.calls == 0  # a small sync never even asks
    assert [policy.wanted(seen, count) for seen in (5000, 11_999, 12_000, 50_000)] == [False, False, True, True]
    assert count.calls == 1


def test_auto_snapshot_is_never_taken_of_a_listmonk_too_big_to_hold_and_the_fixed_modes_ignore_sizes() -> None:
    assert not SnapshotPolicy("auto", 10).wanted(10**9, CountingHeld(AUTO_MAX_SUBSCRIBERS + 1))
    assert SnapshotPolicy("auto", 10).wanted(AUTO_MAX_SUBSCRIBERS, CountingHeld(AUTO_MAX_SUBSCRIBERS))
    huge = CountingHeld(10**9)
    assert SnapshotPolicy("always", 5000).wanted(0, huge) and not SnapshotPolicy("never", 1).wanted(10**9, huge)
    assert huge.calls == 0
