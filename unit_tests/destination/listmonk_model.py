"""A small model of what listmonk does with each operation (../shared/listmonk-api.md §6-8), so plans can
be checked by the state they leave behind. The end-to-end tests check the same on the emulator over HTTP."""

from __future__ import annotations

import copy
from typing import Any, Optional

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
)
from listmonk_client.models import Subscriber, Subscription

NEW_ID = 10_000


def _sub(list_id: int, status: str) -> Subscription:
    return Subscription(id=list_id, subscription_status=status)


def apply(plan: Plan, current: Optional[Subscriber], route: str = "write") -> Optional[Subscriber]:
    """`route` says how a RewriteProfile travels: "write" (its PATCH or PUT) or "import" (a CSV import row)."""
    state = current.model_copy(deep=True) if current else None
    for op in plan.ops:
        if isinstance(op, RewriteProfile):
            state = _import_rewrite(op, state) if route == "import" else _apply(op.write, state)
            continue
        state = _apply(op, state)
        if isinstance(op, CreateSubscriber):
            for followup in op.followups:
                state = _apply(followup, state)
    return state


def _apply(op: Operation, state: Optional[Subscriber]) -> Optional[Subscriber]:
    if isinstance(op, CreateSubscriber):
        status = op.status or "enabled"
        sub_status = "unsubscribed" if status == "blocklisted" else ("confirmed" if op.preconfirm else "unconfirmed")
        return Subscriber(
            id=NEW_ID, email=op.email, name=op.name or op.email.split("@")[0], status=status,
            attribs=copy.deepcopy(dict(op.attribs)), lists=[_sub(i, sub_status) for i in op.list_ids],
        )
    if state is None:
        raise AssertionError(f"{op} sent for a subscriber that does not exist")
    if isinstance(op, PatchSubscriber):
        fields = op.fields
        if "email" in fields:
            state.email = fields["email"]
        if fields.get("name"):
            state.name = fields["name"]
        if fields.get("status"):
            state.status = fields["status"]
        if "attribs" in fields:
            state.attribs = {**state.attribs, **copy.deepcopy(dict(fields["attribs"]))}
        if "lists" in fields:
            raise AssertionError("the destination never sends lists in a PATCH")
        return state
    if isinstance(op, ReplaceSubscriber):
        body = op.body
        if "lists" not in body or "attribs" not in body:
            raise AssertionError("a PUT without lists or attribs destroys data")
        state.email = body["email"]
        if body.get("name"):
            state.name = body["name"]
        if body.get("status"):
            state.status = body["status"]
        state.attribs = copy.deepcopy(dict(body["attribs"]))
        held = {s.id: s.subscription_status for s in state.lists}
        new_lists = []
        for list_id in body["lists"]:
            have = held.get(list_id)
            if body.get("status") == "blocklisted":
                status = "unsubscribed"
            elif have in ("confirmed", "unsubscribed"):
                status = have
            else:
                status = "confirmed" if body.get("preconfirm_subscriptions") else "unconfirmed"
            new_lists.append(_sub(list_id, status))
        state.lists = new_lists
        return state
    if isinstance(op, ChangeSubscriptions):
        held = {s.id: s for s in state.lists}
        for list_id in op.list_ids:
            if op.action == "unsubscribe":
                if list_id in held:
                    held[list_id].subscription_status = "unsubscribed"
            elif list_id in held:
                if op.status:  # listmonk's add with a status overwrites, even unsubscribed
                    held[list_id].subscription_status = op.status
            else:
                state.lists.append(_sub(list_id, op.status or "unconfirmed"))
        return state
    if isinstance(op, BlocklistSubscriber):
        state.status = "blocklisted"
        for sub in state.lists:
            sub.subscription_status = "unsubscribed"
        return state
    if isinstance(op, DeleteSubscriber):
        return None
    raise AssertionError(f"unknown operation {op!r}")


def _import_rewrite(op: RewriteProfile, state: Optional[Subscriber]) -> Subscriber:
    """listmonk's `upsert-subscriber` for a row of a subscribe-mode import with only `overwrite_userinfo` and
    subscription status `unsubscribed`, naming the first of op.list_ids (doc §11): name and attribs replaced
    whole, every status kept, the named list added as unsubscribed if the subscriber is not on it."""
    if state is None or state.email != op.email.strip().lower():
        raise AssertionError(f"{op} would create a subscriber")
    state.name = op.name.strip() or op.email.split("@")[0]
    state.attribs = copy.deepcopy(dict(op.attribs))
    if op.list_ids[0] not in {s.id for s in state.lists}:
        state.lists.append(_sub(op.list_ids[0], "unsubscribed"))
    return state


def subscriptions(subscriber: Optional[Subscriber]) -> dict[int, str]:
    return {s.id: s.subscription_status for s in subscriber.lists} if subscriber else {}


def attribs_at(subscriber: Subscriber, path: tuple[str, ...]) -> Any:
    node: Any = subscriber.attribs
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return "<absent>"
        node = node[key]
    return node
