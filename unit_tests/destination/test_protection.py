"""The protection rules, checked by the state listmonk would hold after the planned operations."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from destination_listmonk.config import STRATEGY_CAPABILITIES, Capability
from destination_listmonk.mapping import Desired, ListIntent
from destination_listmonk.operations import (
    BlocklistSubscriber,
    ChangeSubscriptions,
    CreateSubscriber,
    PatchSubscriber,
    ReplaceSubscriber,
    RewriteProfile,
)
from destination_listmonk.protection import Rules, plan, recheck_subscriptions
from destination_listmonk.writer import overwrites_subscriptions
from listmonk_client.models import Subscriber, Subscription
from unit_tests.destination.listmonk_model import apply, attribs_at, subscriptions


def subscriber(status: str = "enabled", lists: Optional[dict[int, str]] = None, **fields: Any) -> Subscriber:
    return Subscriber(
        id=fields.pop("id", 7),
        email=fields.pop("email", "ann@example.com"),
        name=fields.pop("name", "Ann"),
        status=status,
        attribs=fields.pop("attribs", {}),
        lists=[Subscription(id=i, subscription_status=s) for i, s in (lists or {}).items()],
    )


def desired(**fields: Any) -> Desired:
    fields.setdefault("email", "ann@example.com")
    fields.setdefault("key", fields["email"])
    fields.setdefault("position", 1)
    return Desired(**fields)


def rules(mode: str = "profiles_only", **fields: Any) -> Rules:
    fields.setdefault("protected", frozenset())
    return Rules(mode=mode, capabilities=STRATEGY_CAPABILITIES[mode], **fields)


# --- consent survives ------------------------------------------------------------------------

def test_given_unsubscribed_when_profiles_only_resync_then_stays_unsubscribed() -> None:
    current = subscriber(lists={3: "unsubscribed", 4: "confirmed"})
    result = plan(desired(name="Ann B", lists=(ListIntent(3, "confirmed"),)), current, rules(target_list_ids=(3, 4)))
    after = apply(result, current)
    assert subscriptions(after) == {3: "unsubscribed", 4: "confirmed"}
    assert after.name == "Ann B"
    assert [(c.field, c.rule) for c in result.skipped] == [("lists.3", "strategy:profiles_only")]


def test_given_unsubscribed_when_full_sync_asks_confirmed_then_consent_floor_keeps_it() -> None:
    current = subscriber(lists={3: "unsubscribed"})
    result = plan(desired(lists=(ListIntent(3, "confirmed"),)), current, rules("full_sync"))
    assert subscriptions(apply(result, current)) == {3: "unsubscribed"}
    assert [(c.field, c.incoming, c.kept, c.rule) for c in result.skipped] == [
        ("lists.3", "confirmed", "unsubscribed", "consent_floor")
    ]


def test_given_consent_floor_off_when_full_sync_asks_confirmed_then_resubscribes() -> None:
    current = subscriber(lists={3: "unsubscribed"})
    result = plan(desired(lists=(ListIntent(3, "confirmed"),)), current, rules("full_sync", consent_floor=False))
    assert subscriptions(apply(result, current)) == {3: "confirmed"}


def test_given_blocklisted_when_full_sync_sends_enabled_then_stays_blocklisted() -> None:
    current = subscriber(status="blocklisted", lists={3: "unsubscribed"})
    result = plan(desired(status="enabled"), current, rules("full_sync", target_list_ids=(3, 5)))
    after = apply(result, current)
    assert after.status == "blocklisted"
    assert subscriptions(after) == {3: "unsubscribed"}
    assert {(c.field, c.rule) for c in result.skipped} == {("status", "consent_floor"), ("lists.5", "consent_floor")}


def test_given_profiles_only_when_record_says_disabled_then_status_untouched_and_audited() -> None:
    current = subscriber(status="enabled")
    result = plan(desired(status="disabled"), current, rules())
    assert result.ops == ()
    assert [(c.field, c.incoming, c.kept, c.rule) for c in result.skipped] == [
        ("status", "disabled", "enabled", "strategy:profiles_only")
    ]


def test_given_full_sync_when_record_blocklists_then_blocklist_call_unsubscribes_everything() -> None:
    current = subscriber(lists={3: "confirmed"})
    result = plan(desired(status="blocklisted"), current, rules("full_sync"))
    assert any(isinstance(op, BlocklistSubscriber) for op in result.ops)
    assert not any(isinstance(op, PatchSubscriber) and "status" in op.fields for op in result.ops)
    after = apply(result, current)
    assert after.status == "blocklisted" and subscriptions(after) == {3: "unsubscribed"}


def test_given_new_list_for_existing_subscriber_when_unconfirmed_then_add_carries_no_status() -> None:
    # listmonk's add without a status never overwrites an unsubscribed row (one created meanwhile included).
    result = plan(desired(), subscriber(), rules("full_sync", target_list_ids=(3,)))
    assert result.ops == (ChangeSubscriptions(7, "add", (3,), None),)


def test_given_new_list_and_preconfirm_then_add_confirmed_only_for_lists_not_held() -> None:
    current = subscriber(lists={3: "unconfirmed", 4: "unsubscribed"})
    result = plan(desired(), current, rules("full_sync", target_list_ids=(3, 4, 5), new_subscription_status="confirmed"))
    assert subscriptions(apply(result, current)) == {3: "unconfirmed", 4: "unsubscribed", 5: "confirmed"}


# --- protected fields ----------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["name", "email"])
def test_given_protected_field_when_record_changes_it_then_never_sent(field: str) -> None:
    current = subscriber(attribs={"crm_id": "c1"})
    result = plan(desired(key="c1", email="new@example.com", name="New"), current, rules(protected=frozenset({field})))
    sent = [op.fields for op in result.ops if isinstance(op, PatchSubscriber)]
    assert all(field not in fields for fields in sent)
    assert [c.field for c in result.skipped] == [field]


def test_given_protected_attribute_when_record_changes_it_then_kept_and_others_written() -> None:
    current = subscriber(attribs={"vip": True, "plan": "free", "billing": {"tier": "gold", "seats": 2}})
    incoming = {"vip": False, "plan": "pro", "billing": {"tier": "silver", "seats": 9}}
    result = plan(desired(attribs=incoming), current, rules(protected=frozenset({"attribs.vip", "attribs.billing.tier"})))
    after = apply(result, current)
    assert after.attribs == {"vip": True, "plan": "pro", "billing": {"tier": "gold", "seats": 9}}
    assert sorted(c.field for c in result.skipped) == ["attribs.billing.tier", "attribs.vip"]


def test_given_protected_attribute_absent_in_listmonk_when_record_sets_it_then_not_created() -> None:
    result = plan(desired(attribs={"vip": True, "plan": "pro"}), None, rules(protected=frozenset({"attribs.vip"})))
    create = result.ops[0]
    assert isinstance(create, CreateSubscriber) and create.attribs == {"plan": "pro"}


def test_given_all_attribs_protected_then_no_attribute_write() -> None:
    current = subscriber(attribs={"a": 1})
    result = plan(desired(attribs={"a": 2, "b": 3}), current, rules(protected=frozenset({"attribs"})))
    assert result.ops == () and len(result.skipped) == 2


def test_given_status_protected_when_full_sync_then_status_not_written() -> None:
    current = subscriber(status="disabled")
    result = plan(desired(status="enabled"), current, rules("full_sync", protected=frozenset({"status"})))
    assert result.ops == () and result.skipped[0].rule == "protected:status"


# --- attributes ------------------------------------------------------------------------------------

def test_given_deep_merge_then_listmonk_only_keys_survive_and_nested_objects_sent_whole() -> None:
    current = subscriber(attribs={"plan": {"tier": "gold", "seats": 5}, "listmonk_only": 1})
    result = plan(desired(attribs={"plan": {"seats": 10}}), current, rules())
    (patch,) = result.ops
    # PATCH replaces a nested object whole, so the merged object is sent complete.
    assert patch == PatchSubscriber(7, {"attribs": {"plan": {"tier": "gold", "seats": 10}}})


def test_given_nulls_skipped_then_null_leaves_value() -> None:
    current = subscriber(attribs={"phone": "123"})
    assert plan(desired(attribs={"phone": None}), current, rules()).ops == ()


def test_given_nulls_clear_then_null_clears_value() -> None:
    current = subscriber(attribs={"phone": "123", "a": {"b": 1, "c": 2}})
    result = plan(desired(attribs={"phone": None, "a": {"b": None}}), current, rules(null_values="clear"))
    assert apply(result, current).attribs == {"phone": None, "a": {"c": 2}}


def test_given_replace_mode_when_keys_disappear_then_full_put_with_lists_carried_over() -> None:
    current = subscriber(attribs={"old": 1, "vip": True}, lists={3: "unsubscribed", 4: "confirmed"})
    result = plan(desired(attribs={"new": 2}), current, rules(attribute_merge="replace", protected=frozenset({"attribs.vip"})))
    (put,) = result.ops
    assert isinstance(put, ReplaceSubscriber)
    assert sorted(put.body["lists"]) == [3, 4] and put.body["preconfirm_subscriptions"] is False
    after = apply(result, current)
    assert after.attribs == {"new": 2, "vip": True}
    assert subscriptions(after) == {3: "unsubscribed", 4: "confirmed"}


def test_given_server_without_patch_then_update_is_full_put() -> None:
    current = subscriber(attribs={"a": 1}, lists={3: "unsubscribed"}, status="disabled")
    result = plan(desired(name="Ann B"), current, rules(supports_patch=False))
    (put,) = result.ops
    assert isinstance(put, ReplaceSubscriber) and "status" not in put.body
    after = apply(result, current)
    assert (after.name, after.attribs, after.status, subscriptions(after)) == ("Ann B", {"a": 1}, "disabled", {3: "unsubscribed"})


# --- strategies and deletions -----------------------------------------------------------------------

def test_given_create_only_when_subscriber_exists_then_nothing_written() -> None:
    result = plan(desired(name="Other"), subscriber(), rules("create_only"))
    assert (result.outcome, result.ops) == ("skipped", ())


def test_given_update_only_when_subscriber_missing_then_nothing_created() -> None:
    result = plan(desired(name="Other"), None, rules("update_only"))
    assert (result.outcome, result.ops) == ("skipped", ())


def test_given_new_subscriber_then_created_on_target_lists_with_preconfirm() -> None:
    result = plan(desired(name="Ann"), None, rules(target_list_ids=(3, 4), new_subscription_status="confirmed"))
    (create,) = result.ops
    assert isinstance(create, CreateSubscriber)
    assert (create.list_ids, create.preconfirm) == ((3, 4), True)


@pytest.mark.parametrize("mode", ["ignore", "unsubscribe", "blocklist", "delete"])
def test_given_deleted_record_of_opted_out_subscriber_then_opt_out_survives(mode: str) -> None:
    current = subscriber(lists={3: "unsubscribed", 4: "confirmed"})
    after = apply(plan(desired(deleted=True), current, rules(deletions=mode, target_list_ids=(3, 4))), current)
    assert after is not None and subscriptions(after)[3] == "unsubscribed"


def test_given_deleted_record_and_delete_mode_then_plain_subscriber_deleted() -> None:
    current = subscriber(lists={3: "confirmed"})
    assert apply(plan(desired(deleted=True), current, rules(deletions="delete")), current) is None


def test_given_unchanged_record_then_no_write() -> None:
    current = subscriber(attribs={"plan": "pro"}, lists={3: "confirmed"})
    result = plan(desired(name="Ann", attribs={"plan": "pro"}, status="enabled"), current, rules("full_sync", target_list_ids=(3,)))
    assert (result.outcome, result.ops) == ("unchanged", ())


# --- profile rewrites the importer may carry ----------------------------------------------------

def test_given_a_profile_change_of_a_subscriber_on_lists_then_the_import_may_carry_the_whole_profile() -> None:
    current = subscriber(lists={3: "unsubscribed", 4: "confirmed"}, attribs={"plan": "free", "kept": 1})
    result = plan(desired(name="Ann B", attribs={"plan": "pro"}), current, rules())
    (op,) = result.ops
    assert isinstance(op, RewriteProfile)
    assert (op.email, op.name, op.attribs, op.list_ids) == ("ann@example.com", "Ann B", {"plan": "pro", "kept": 1}, (3, 4))
    assert op.write == PatchSubscriber(7, {"name": "Ann B", "attribs": {"plan": "pro"}})
    assert subscriptions(apply(result, current, "import")) == {3: "unsubscribed", 4: "confirmed"}


@pytest.mark.parametrize(
    "why, current, rule, name",
    [
        ("name protected", subscriber(lists={3: "confirmed"}), rules(protected=frozenset({"name"})), "Ann B"),
        ("an attribute protected", subscriber(lists={3: "confirmed"}), rules(protected=frozenset({"attribs.vip"})), "Ann B"),
        ("attributes protected", subscriber(lists={3: "confirmed"}), rules(protected=frozenset({"attribs"})), "Ann B"),
        ("lists protected", subscriber(lists={3: "confirmed"}), rules(protected=frozenset({"lists"})), "Ann B"),
        ("strategy may not create", subscriber(lists={3: "confirmed"}), rules("update_only"), "Ann B"),
        ("listmonk before 6.1", subscriber(lists={3: "confirmed"}), rules(supports_patch=False), "Ann B"),
        ("on no list", subscriber(lists={}), rules(), "Ann B"),
        ("email the importer would lower-case", subscriber(lists={3: "confirmed"}, email="Ann@Example.com"), rules(), "Ann B"),
        ("kept name the importer would trim", subscriber(lists={3: "confirmed"}, name=" Ann "), rules(), None),
    ],
)
def test_given_a_profile_change_the_import_could_alter_then_it_goes_by_patch_or_put(
    why: str, current: Subscriber, rule: Rules, name: Optional[str]
) -> None:
    result = plan(desired(email=current.email.lower(), name=name, attribs={"plan": "pro"}), current, rule)
    assert result.ops and not any(isinstance(op, RewriteProfile) for op in result.ops), why


def test_given_a_profile_change_with_a_subscription_change_then_no_import_row() -> None:
    current = subscriber(lists={3: "confirmed"})
    result = plan(desired(name="Ann B", lists=(ListIntent(4, None),)), current, rules("full_sync"))
    assert isinstance(result.ops[0], PatchSubscriber) and isinstance(result.ops[1], ChangeSubscriptions)


# --- properties: whatever the input, no protected field changes, consent never weakens --------------

KEYS = st.sampled_from(["plan", "vip", "crm_id", "billing"])
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=3))
ATTRIBS = st.recursive(LEAVES, lambda inner: st.dictionaries(KEYS, inner, max_size=3), max_leaves=6).filter(
    lambda v: isinstance(v, dict)
) | st.dictionaries(KEYS, LEAVES, max_size=4)
LIST_IDS = st.sampled_from([3, 4, 5])
SUB_STATUS = st.sampled_from(["unconfirmed", "confirmed", "unsubscribed"])
STATUS = st.sampled_from(["enabled", "disabled", "blocklisted"])
PROTECTABLE = st.sampled_from(["email", "name", "status", "lists", "attribs", "attribs.vip", "attribs.billing.tier", "attribs.plan"])

currents = st.one_of(
    st.none(),
    st.builds(
        lambda status, lists, attribs, name: subscriber(status=status, lists=lists, attribs=attribs, name=name),
        STATUS, st.dictionaries(LIST_IDS, SUB_STATUS, max_size=3), ATTRIBS, st.sampled_from(["Ann", "Bea"]),
    ),
)
desireds = st.builds(
    lambda email, name, attribs, status, lists, deleted: desired(
        email=email, name=name, attribs=attribs, status=status,
        lists=None if lists is None else tuple(ListIntent(i, s) for i, s in lists.items()), deleted=deleted,
    ),
    st.sampled_from(["ann@example.com", "new@example.com"]),
    st.one_of(st.none(), st.sampled_from(["Ann", "Bea", "Cy"])),
    st.one_of(st.none(), ATTRIBS),
    st.one_of(st.none(), STATUS),
    st.one_of(st.none(), st.dictionaries(LIST_IDS, st.one_of(st.none(), SUB_STATUS), max_size=3)),
    st.booleans(),
)
ruleses = st.builds(
    lambda mode, protected, floor, merge, nulls, new_status, targets, deletions, patch: rules(
        mode, protected=frozenset(protected), consent_floor=floor, attribute_merge=merge, null_values=nulls,
        new_subscription_status=new_status, target_list_ids=tuple(targets), deletions=deletions, supports_patch=patch,
    ),
    st.sampled_from(sorted(STRATEGY_CAPABILITIES)),
    st.sets(PROTECTABLE, max_size=3),
    st.booleans(),
    st.sampled_from(["deep_merge", "replace"]),
    st.sampled_from(["skip", "clear"]),
    st.sampled_from(["unconfirmed", "confirmed"]),
    st.lists(LIST_IDS, max_size=2, unique=True),
    st.sampled_from(["ignore", "unsubscribe", "blocklist", "delete"]),
    st.booleans(),
)

PROPERTY_SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# How a profile rewrite travels: its PATCH or PUT, or a row of a bulk import.
ROUTES = st.sampled_from(["write", "import"])


@PROPERTY_SETTINGS
@given(currents, desireds, ruleses, ROUTES)
def test_property_protected_fields_never_change(current: Optional[Subscriber], want: Desired, rule: Rules, route: str) -> None:
    result = plan(want, current, rule)
    after = apply(result, current, route)
    if current is None or after is None:
        return
    if rule.is_protected("email"):
        assert after.email == current.email
    if rule.is_protected("name"):
        assert after.name == current.name
    if rule.is_protected("status"):
        assert after.status == current.status
    if rule.is_protected("lists"):
        assert subscriptions(after) == subscriptions(current)
    if rule.is_protected("attribs"):
        assert after.attribs == current.attribs
    for path in rule.protected_attrib_paths:
        assert attribs_at(after, path) == attribs_at(current, path)


@PROPERTY_SETTINGS
@given(currents, desireds, ruleses, ROUTES)
def test_property_consent_never_weakens_under_the_floor(
    current: Optional[Subscriber], want: Desired, rule: Rules, route: str
) -> None:
    if not rule.consent_floor or current is None:
        return
    after = apply(plan(want, current, rule), current, route)
    if current.status == "blocklisted":
        assert after is not None and after.status == "blocklisted"
        assert all(s == "unsubscribed" or subscriptions(current).get(i) == s for i, s in subscriptions(after).items())
    if after is not None:
        for list_id, status in subscriptions(current).items():
            if status == "unsubscribed":
                assert subscriptions(after).get(list_id) == "unsubscribed"


@PROPERTY_SETTINGS
@given(currents, desireds, ruleses, ROUTES)
def test_property_strategy_limits_hold(current: Optional[Subscriber], want: Desired, rule: Rules, route: str) -> None:
    result = plan(want, current, rule)
    if want.deleted:
        return
    if current is None and Capability.CREATE not in rule.capabilities:
        assert result.ops == ()
    if current is not None:
        after = apply(result, current, route)
        if Capability.UPDATE not in rule.capabilities:
            assert result.ops == ()
        if Capability.STATUS not in rule.capabilities:
            assert after.status == current.status
        if Capability.LISTS not in rule.capabilities:
            assert subscriptions(after) == subscriptions(current)


@PROPERTY_SETTINGS
@given(currents, desireds, ruleses)
def test_property_second_identical_sync_writes_nothing(current: Optional[Subscriber], want: Desired, rule: Rules) -> None:
    if want.deleted:
        return
    first = plan(want, current, rule)
    after = apply(first, current)
    if after is None:
        return
    second = plan(want, after, rule)
    assert second.ops == (), f"second sync would write {second.ops}"


# Existing subscribers on lists, records that change their profile: where profile rewrites happen.
on_lists = st.builds(
    lambda status, lists, attribs, name: subscriber(status=status, lists=lists, attribs=attribs, name=name),
    STATUS, st.dictionaries(LIST_IDS, SUB_STATUS, min_size=1, max_size=3), ATTRIBS, st.sampled_from(["Ann", "Bea"]),
)
profile_changes = st.builds(
    lambda email, name, attribs, status: desired(email=email, name=name, attribs=attribs, status=status),
    st.sampled_from(["ann@example.com", "ann@example.com", "ann.b@example.com"]),
    st.one_of(st.none(), st.sampled_from(["Ann", "Bea", "Cy"])),
    st.one_of(st.none(), ATTRIBS),
    st.one_of(st.none(), STATUS),
)
rewrite_rules = st.builds(
    lambda mode, protected, merge, nulls, patch: rules(
        mode, protected=frozenset(protected), attribute_merge=merge, null_values=nulls, supports_patch=patch,
    ),
    st.sampled_from(["profiles_only", "full_sync", "update_only"]),
    st.sets(PROTECTABLE, max_size=2),
    st.sampled_from(["deep_merge", "replace"]),
    st.sampled_from(["skip", "clear"]),
    st.sampled_from([True, True, False]),
)


@PROPERTY_SETTINGS
@given(on_lists, profile_changes, rewrite_rules)
def test_property_a_profile_rewrite_ends_the_same_by_import_as_by_patch_or_put(
    current: Subscriber, want: Desired, rule: Rules
) -> None:
    result = plan(want, current, rule)
    assert apply(result, current, "import") == apply(result, current, "write")


@PROPERTY_SETTINGS
@given(on_lists, profile_changes, rewrite_rules)
def test_property_an_import_row_undoes_no_change_to_a_protected_field_made_since_the_lookup(
    current: Subscriber, want: Desired, rule: Rules
) -> None:
    """The row carries what the lookup read: it may only go where nothing it rewrites is protected."""
    result = plan(want, current, rule)
    if not any(isinstance(op, RewriteProfile) for op in result.ops):
        return
    since = current.model_copy(deep=True)  # what listmonk holds when the import runs
    since.name = "Edited"
    since.attribs = {**since.attribs, "vip": "edited", "plan": "edited", "billing": {"tier": "edited"}}
    since.lists = since.lists[1:]  # removed from a list (the one the import may name)
    after = apply(result, since, "import")
    assert after is not None
    if rule.is_protected("name"):
        assert after.name == since.name
    if rule.is_protected("attribs"):
        assert after.attribs == since.attribs
    for path in rule.protected_attrib_paths:
        assert attribs_at(after, path) == attribs_at(since, path)
    if rule.is_protected("lists"):
        assert subscriptions(after) == subscriptions(since)


# --- the re-check right before a subscription status is overwritten --------------------------------

_PROFILE_OPS = (PatchSubscriber, ReplaceSubscriber, RewriteProfile)


def consent_changed(current: Subscriber, action: str, list_ids: set[int]) -> Subscriber:
    """`current` after someone blocklisted the person, or unsubscribed them from `list_ids`, inside listmonk."""
    changed = current.model_copy(deep=True)
    if action == "blocklist":
        changed.status = "blocklisted"
    for subscription in changed.lists:
        if action == "blocklist" or subscription.id in list_ids:
            subscription.subscription_status = "unsubscribed"
    return changed


# Records that ask for subscriptions under the one strategy that changes them, with the floor on.
subscribing = st.builds(
    lambda name, attribs, status, lists: desired(
        name=name, attribs=attribs, status=status, lists=tuple(ListIntent(i, s) for i, s in lists.items())),
    st.one_of(st.none(), st.sampled_from(["Ann", "Bea"])),
    st.one_of(st.none(), ATTRIBS),
    st.one_of(st.none(), STATUS),
    st.dictionaries(LIST_IDS, st.one_of(st.none(), SUB_STATUS), min_size=1, max_size=3),
)
full_sync_rules = st.builds(
    lambda protected, new_status, targets, patch: rules(
        "full_sync", protected=frozenset(protected), new_subscription_status=new_status,
        target_list_ids=tuple(targets), supports_patch=patch,
    ),
    st.sets(PROTECTABLE, max_size=2),
    st.sampled_from(["unconfirmed", "confirmed"]),
    st.lists(LIST_IDS, max_size=2, unique=True),
    st.booleans(),
)


@PROPERTY_SETTINGS
@given(on_lists, subscribing, full_sync_rules, st.sampled_from(["blocklist", "unsubscribe"]), st.sets(LIST_IDS))
def test_property_an_opt_out_made_after_the_lookup_survives_the_recheck_before_subscriptions_are_overwritten(
    current: Subscriber, want: Desired, rule: Rules, action: str, list_ids: set[int]
) -> None:
    """As the writer runs a plan: profile writes, then the re-check against what listmonk holds, then the rest."""
    planned = plan(want, current, rule)
    opted_out = consent_changed(current, action, list_ids)
    held = apply(replace(planned, ops=tuple(op for op in planned.ops if isinstance(op, _PROFILE_OPS))), opted_out)
    assert held is not None
    sent = recheck_subscriptions(planned, want, held, rule) if overwrites_subscriptions(planned) else planned
    after = apply(replace(sent, ops=tuple(op for op in sent.ops if not isinstance(op, _PROFILE_OPS))), held)
    for list_id, status in subscriptions(opted_out).items():
        if status == "unsubscribed":
            assert subscriptions(after)[list_id] == "unsubscribed"


def test_given_an_unsubscribe_since_the_lookup_then_the_recheck_drops_the_confirmation_and_records_the_refusal() -> None:
    current = subscriber(lists={3: "unconfirmed", 4: "unconfirmed"})
    want = desired(name="Ann B", lists=(ListIntent(3, "confirmed"), ListIntent(4, "confirmed")))
    planned = plan(want, current, rules("full_sync"))
    now = subscriber(name="Ann B", lists={3: "unsubscribed", 4: "unconfirmed"})

    rechecked = recheck_subscriptions(planned, want, now, rules("full_sync"))

    assert rechecked.ops == (PatchSubscriber(7, {"name": "Ann B"}), ChangeSubscriptions(7, "add", (4,), "confirmed"))
    assert [(c.field, c.kept, c.rule) for c in rechecked.skipped] == [("lists.3", "unsubscribed", "consent_floor")]
    unchanged = subscriber(name="Ann B", lists={3: "unconfirmed", 4: "unconfirmed"})
    assert recheck_subscriptions(planned, want, unchanged, rules("full_sync")) == planned
