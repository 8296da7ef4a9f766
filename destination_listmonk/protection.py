"""The protection rules: the one place that decides what may be written to a subscriber.

`plan(desired, current, rules)` is pure (no I/O). It compares what the upstream record asks for with what
listmonk holds and returns the operations to send plus every refused change. Every write the destination
makes is an operation of a plan built here, so no other code path can write a protected field, re-subscribe
an unsubscribed subscription or lift a blocklist.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Mapping, Optional, Sequence, Union

from destination_listmonk import paths
from destination_listmonk.config import Capability, DestinationConfig
from destination_listmonk.mapping import Desired, ListIntent
from destination_listmonk.operations import (
    BlocklistSubscriber,
    ChangeSubscriptions,
    CreateSubscriber,
    DeleteSubscriber,
    Operation,
    PatchSubscriber,
    Plan,
    ReplaceSubscriber,
    RewriteProfile,
    SkippedChange,
)
from listmonk_client.models import SubscriberState

RULE_CONSENT = "consent_floor"


@dataclass(frozen=True)
class Rules:
    mode: str
    capabilities: frozenset[Capability]
    protected: frozenset[str]
    consent_floor: bool = True
    attribute_merge: str = "deep_merge"
    null_values: str = "skip"
    new_subscription_status: str = "unconfirmed"
    target_list_ids: tuple[int, ...] = ()
    deletions: str = "ignore"
    supports_patch: bool = True

    @classmethod
    def from_config(cls, config: DestinationConfig, target_list_ids: Sequence[int], supports_patch: bool) -> "Rules":
        return cls(
            mode=config.strategy.mode,
            capabilities=config.capabilities,
            protected=frozenset(config.protected_fields),
            consent_floor=config.consent_floor,
            attribute_merge=config.attribute_merge,
            null_values=config.null_values,
            new_subscription_status=config.new_subscription_status,
            target_list_ids=tuple(target_list_ids),
            deletions=config.deletions,
            supports_patch=supports_patch,
        )

    def is_protected(self, field: str) -> bool:
        return field in self.protected

    @cached_property
    def protected_attrib_paths(self) -> tuple[tuple[str, ...], ...]:
        return tuple(paths.split(p)[1:] for p in sorted(self.protected) if p.startswith("attribs."))

    # Read once per new subscriber: a Capability's hash is Python code, and the target lists' intents are alike.
    @cached_property
    def creates(self) -> bool:
        return Capability.CREATE in self.capabilities

    @cached_property
    def target_intents(self) -> tuple[ListIntent, ...]:
        return tuple(ListIntent(list_id, None) for list_id in dict.fromkeys(self.target_list_ids))


class _Recorder:
    """Collects refused changes for one subscriber."""

    def __init__(self, who: str, subscriber_id: Optional[int]) -> None:
        self.who = who
        self.subscriber_id = subscriber_id
        self.changes: list[SkippedChange] = []

    def skip(self, field: str, incoming: Any, kept: Any, rule: str) -> None:
        self.changes.append(SkippedChange(self.who, self.subscriber_id, field, incoming, kept, rule))


def plan(desired: Desired, current: Optional[SubscriberState], rules: Rules) -> Plan:
    if desired.deleted:
        return _plan_deletion(desired, current, rules)
    if current is None:
        return _plan_create(desired, rules)
    return _plan_update(desired, current, rules)


def _refusal(field: str, rules: Rules, needed: Optional[Capability] = None) -> Optional[str]:
    """Why a change to `field` is refused outright, or None. Protection beats the strategy."""
    if rules.is_protected(field):
        return f"protected:{field}"
    if needed is not None and needed not in rules.capabilities:
        return f"strategy:{rules.mode}"
    return None


def _target_attribs(
    current: Mapping[str, Any], incoming: Optional[Mapping[str, Any]], rules: Rules, recorder: _Recorder
) -> dict[str, Any]:
    """The attribute object listmonk should hold afterwards, protected keys restored to what it holds now."""
    if incoming is None:
        return paths.copy_json(current)
    cleaned = paths.drop_nulls(incoming) if rules.null_values == "skip" else incoming
    if rules.attribute_merge == "deep_merge":
        target = paths.deep_merge(current, cleaned)
    else:
        target = paths.copy_json(cleaned)
    if rules.null_values == "clear":
        target = paths.strip_nested_nulls(target)
    if rules.is_protected("attribs"):
        for key in sorted(set(target) | set(current)):
            if not paths.same_json(target.get(key), current.get(key)) or (key in target) != (key in current):
                recorder.skip(f"attribs.{key}", target.get(key), current.get(key), "protected:attribs")
        return paths.copy_json(current)
    for path in rules.protected_attrib_paths:
        had, wants = paths.has(current, path), paths.has(target, path)
        kept, incoming_value = paths.get(current, path), paths.get(target, path)
        if had == wants and paths.same_json(kept, incoming_value):
            continue
        recorder.skip("attribs." + ".".join(path), incoming_value, kept, "protected:attribs." + ".".join(path))
        if had:
            paths.set_(target, path, paths.copy_json(kept))
        else:
            paths.delete(target, path)
    return target


def _plan_create(desired: Desired, rules: Rules) -> Plan:
    recorder = _Recorder(desired.email or desired.key, None)
    if not rules.creates:
        return Plan(desired.position, desired.key, "skipped", note=f"not in listmonk; the {rules.mode} strategy does not create")
    name = desired.name
    if name is not None and rules.is_protected("name"):
        recorder.skip("name", name, None, "protected:name")
        name = None
    attribs = _target_attribs({}, desired.attribs, rules, recorder)
    status = desired.status
    if status is not None and rules.is_protected("status"):
        recorder.skip("status", status, None, "protected:status")
        status = None
    wanted = _wanted_lists(desired, rules, existing=False)
    if wanted and rules.is_protected("lists"):
        for intent in wanted:
            recorder.skip(f"lists.{intent.list_id}", intent.status or rules.new_subscription_status, None, "protected:lists")
        wanted = ()
    default = rules.new_subscription_status
    followups: list[ChangeSubscriptions] = []
    if status == "blocklisted":
        # listmonk creates every subscription of a blocklisted newcomer as unsubscribed: the opt-outs are kept,
        # and no follow-up may subscribe them.
        direct = tuple([i.list_id for i in wanted])
    else:
        direct = tuple([i.list_id for i in wanted if i.status is None or i.status == default])
        if len(direct) < len(wanted):  # only lists wanted in another status need a follow-up
            others = [i for i in wanted if i.status not in (None, default)]
            for other in ("confirmed", "unconfirmed", "unsubscribed"):
                ids = tuple(i.list_id for i in others if i.status == other)
                if ids:
                    followups.append(ChangeSubscriptions(None, "add", ids, other))
    op = CreateSubscriber(
        email=desired.email or "",
        name=name,
        status=status,
        attribs=attribs,
        list_ids=direct,
        preconfirm=default == "confirmed",
        followups=tuple(followups),
    )
    return Plan(desired.position, desired.key, "create", (op,), tuple(recorder.changes))


def _wanted_lists(desired: Desired, rules: Rules, existing: bool) -> tuple[ListIntent, ...]:
    """Target lists (for new subscribers; for existing ones only under a strategy that manages lists)
    merged with the record's own lists, the record winning on status."""
    targets = rules.target_intents if not existing or Capability.LISTS in rules.capabilities else ()
    if desired.lists is None and desired.status != "blocklisted":
        return targets  # most records: the target lists as they are
    intents = {intent.list_id: intent for intent in targets}
    for intent in desired.lists or ():
        intents[intent.list_id] = intent
    if desired.status == "blocklisted":
        # A blocklisted person holds only unsubscribed subscriptions (listmonk enforces it on create).
        return tuple(ListIntent(list_id, "unsubscribed") for list_id in intents)
    return tuple(intents.values())


def _plan_update(desired: Desired, current: SubscriberState, rules: Rules) -> Plan:
    recorder = _Recorder(current.email, current.id)
    if Capability.UPDATE not in rules.capabilities:
        return Plan(desired.position, desired.key, "skipped", note=f"already in listmonk; the {rules.mode} strategy does not update")
    fields: dict[str, Any] = {}
    if desired.email is not None and desired.email != current.email.lower():
        refusal = _refusal("email", rules)
        if refusal:
            recorder.skip("email", desired.email, current.email, refusal)
        else:
            fields["email"] = desired.email
    if desired.name is not None and desired.name != current.name:
        refusal = _refusal("name", rules)
        if refusal:
            recorder.skip("name", desired.name, current.name, refusal)
        else:
            fields["name"] = desired.name
    current_attribs = dict(current.attribs or {})
    target = _target_attribs(current_attribs, desired.attribs, rules, recorder)
    changed = {k: v for k, v in target.items() if k not in current_attribs or not paths.same_json(current_attribs[k], v)}
    removed = sorted(set(current_attribs) - set(target))
    if changed:
        fields["attribs"] = changed
    blocklist = False
    if desired.status is not None and desired.status != current.status:
        refusal = _refusal("status", rules, Capability.STATUS)
        if refusal is None and rules.consent_floor and current.status == "blocklisted":
            refusal = RULE_CONSENT
        subscribed = any(s.subscription_status != "unsubscribed" for s in current.lists)
        if refusal is None and desired.status == "blocklisted" and subscribed and rules.is_protected("lists"):
            # The blocklist route unsubscribes every list; a PATCH of the status alone leaves protected
            # subscriptions as they are. Without PATCH, no call blocklists without touching them.
            if not (rules.supports_patch and not removed):
                refusal = "protected:lists"
        if refusal:
            recorder.skip("status", desired.status, current.status, refusal)
        elif desired.status == "blocklisted" and not rules.is_protected("lists"):
            blocklist = True
        else:
            fields["status"] = desired.status
    ops: list[Operation] = []
    subscription_changes = _subscription_changes(desired, current, rules, recorder)
    if fields or removed:
        write = _profile_write(current, fields, target, removed, rules)
        name = fields.get("name", current.name)
        alone = not subscription_changes and not blocklist
        ops.append(RewriteProfile(write, current.email, name, target, tuple(s.id for s in current.lists))
                   if alone and _importable(fields, current, name, rules) else write)
    ops.extend(subscription_changes)
    if blocklist:
        ops.append(BlocklistSubscriber(current.id))
    return Plan(desired.position, desired.key, "update" if ops else "unchanged", tuple(ops), tuple(recorder.changes))


_IMPORT_REWRITES = frozenset({"name", "attribs", "lists"})


def _importable(fields: Mapping[str, Any], current: SubscriberState, name: str, rules: Rules) -> bool:
    """Whether an import row may carry this profile change instead of the PATCH or PUT (see RewriteProfile).
    The row rewrites the name and every attribute with what the lookup read; a subscriber removed from the list
    it names since the lookup gets an unsubscribed subscription to it, and one deleted since is created again.
    So never where the name, an attribute or lists are protected, never where the strategy may not create."""
    return (
        rules.supports_patch  # listmonk >= 6.1, whose importer can overwrite profiles without subscription statuses
        and set(fields) <= {"name", "attribs"}
        and Capability.CREATE in rules.capabilities
        and not any(rules.is_protected(f) for f in _IMPORT_REWRITES)
        and not rules.protected_attrib_paths
        and bool(current.lists)
        # The importer lower-cases and trims emails and trims names (a blank one it derives from the email):
        # anything it would alter goes by PATCH, where it stays as it is.
        and current.email == current.email.strip().lower()
        and bool(name)
        and name == name.strip()
    )


def _profile_write(
    current: SubscriberState, fields: dict[str, Any], target: dict[str, Any], removed: list[str], rules: Rules
) -> Union[PatchSubscriber, ReplaceSubscriber]:
    if rules.supports_patch and not removed:
        return PatchSubscriber(current.id, fields)
    # PUT replaces the whole record: send every current list (no preconfirm, so no subscription status
    # moves) and the complete attribute object; an omitted status keeps the current one.
    body: dict[str, Any] = {
        "email": fields.get("email", current.email),
        "name": fields.get("name", current.name),
        "attribs": target,
        "lists": [s.id for s in current.lists],
        "preconfirm_subscriptions": False,
    }
    if "status" in fields:
        body["status"] = fields["status"]
    return ReplaceSubscriber(current.id, body)


def _subscription_changes(
    desired: Desired, current: SubscriberState, rules: Rules, recorder: _Recorder
) -> list[ChangeSubscriptions]:
    held = {s.id: s.subscription_status for s in current.lists}
    floor_blocks = rules.consent_floor and current.status == "blocklisted"
    adds: dict[Optional[str], list[int]] = {}
    unsubscribes: list[int] = []
    for intent in _wanted_lists(desired, rules, existing=True):
        have = held.get(intent.list_id)
        want = intent.status if intent.status else (have or rules.new_subscription_status)
        if want == have:
            continue
        field = f"lists.{intent.list_id}"
        refusal = _refusal("lists", rules, Capability.LISTS)
        if refusal is None and rules.consent_floor and want != "unsubscribed":
            if have == "unsubscribed":
                refusal = RULE_CONSENT
            elif floor_blocks:
                refusal = RULE_CONSENT
        if refusal:
            recorder.skip(field, want, have, refusal)
        elif want == "unsubscribed" and have is not None:
            unsubscribes.append(intent.list_id)
        else:
            # A new unconfirmed subscription goes without a status: listmonk's `add` then never overwrites an
            # unsubscribed row, even one created between our lookup and this write.
            status = None if (have is None and want == "unconfirmed") else want
            adds.setdefault(status, []).append(intent.list_id)
    changes = [ChangeSubscriptions(current.id, "add", tuple(ids), status) for status, ids in adds.items()]
    if unsubscribes:
        changes.append(ChangeSubscriptions(current.id, "unsubscribe", tuple(unsubscribes)))
    return changes


def recheck_status(planned: Plan, desired: Desired, current: SubscriberState, rules: Rules) -> Plan:
    """`planned`, whose profile write sets the subscriber's status and of which nothing is sent yet, planned again
    against `current`, what listmonk holds right before the write: a PATCH or PUT with a status overwrites a
    blocklist made since the first lookup, which the consent floor must see."""
    return plan(desired, current, rules)


def recheck_subscriptions(planned: Plan, desired: Desired, current: SubscriberState, rules: Rules) -> Plan:
    """`planned` with its subscription changes planned again against `current`, what listmonk holds right before
    they are sent (its other operations have been sent already). listmonk's `add` with a status overwrites any
    subscription row, so an unsubscribe or blocklist made since the first lookup must be seen here; the
    subscription changes refused now join the plan's refused changes."""
    fresh = plan(desired, current, rules)
    changes = tuple(op for op in fresh.ops if isinstance(op, ChangeSubscriptions))
    others = tuple(op for op in planned.ops if not isinstance(op, ChangeSubscriptions))
    refused = tuple(c for c in fresh.skipped if c.field.startswith("lists.") and c not in planned.skipped)
    ops = others + changes
    return replace(planned, outcome=planned.outcome if ops else "unchanged", ops=ops, skipped=planned.skipped + refused)


def _plan_deletion(desired: Desired, current: Optional[SubscriberState], rules: Rules) -> Plan:
    if current is None:
        return Plan(desired.position, desired.key, "unchanged", note="deleted upstream; not in listmonk")
    if rules.deletions == "ignore":
        return Plan(desired.position, desired.key, "ignored", note="deleted upstream; deletions are ignored")
    recorder = _Recorder(current.email, current.id)
    ops: list[Operation] = []
    if rules.deletions == "unsubscribe":
        scope = set(rules.target_list_ids) or {s.id for s in current.lists}
        ids = tuple(s.id for s in current.lists if s.id in scope and s.subscription_status != "unsubscribed")
        if ids and rules.is_protected("lists"):
            held = {s.id: s.subscription_status for s in current.lists}
            for list_id in ids:
                recorder.skip(f"lists.{list_id}", "unsubscribed", held[list_id], "protected:lists")
        elif ids:
            ops.append(ChangeSubscriptions(current.id, "unsubscribe", ids))
    elif rules.deletions == "blocklist":
        if current.status != "blocklisted":
            subscribed = any(s.subscription_status != "unsubscribed" for s in current.lists)
            if rules.is_protected("status"):
                recorder.skip("status", "blocklisted", current.status, "protected:status")
            elif not (subscribed and rules.is_protected("lists")):
                ops.append(BlocklistSubscriber(current.id))
            elif rules.supports_patch:
                ops.append(PatchSubscriber(current.id, {"status": "blocklisted"}))
            else:
                recorder.skip("status", "blocklisted", current.status, "protected:lists")
    else:
        opted_out = current.status == "blocklisted" or any(s.subscription_status == "unsubscribed" for s in current.lists)
        if rules.consent_floor and opted_out:
            # Deleting would erase the record of the opt-out, and a later sync could then re-create the person.
            recorder.skip("subscriber", "deleted", "kept (holds an opt-out)", RULE_CONSENT)
        else:
            ops.append(DeleteSubscriber(current.id))
    return Plan(desired.position, desired.key, "deleted" if ops else "unchanged", tuple(ops), tuple(recorder.changes))
