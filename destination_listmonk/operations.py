"""The write operations a plan may contain. Only `protection.plan` builds them; only `writer` sends them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Union


@dataclass(frozen=True)
class ChangeSubscriptions:
    """`PUT /api/subscribers/lists`. subscriber_id None means the subscriber created by the same plan.
    status None on `add` keeps an existing unsubscribed subscription unsubscribed (listmonk's own guard)."""

    subscriber_id: Optional[int]
    action: Literal["add", "unsubscribe"]
    list_ids: tuple[int, ...]
    status: Optional[str] = None


@dataclass(frozen=True)
class CreateSubscriber:
    email: str
    name: Optional[str]
    status: Optional[str]
    attribs: Mapping[str, Any]
    list_ids: tuple[int, ...]
    preconfirm: bool
    followups: tuple[ChangeSubscriptions, ...] = ()

    def __init__(self, email: str, name: Optional[str], status: Optional[str], attribs: Mapping[str, Any],
                 list_ids: tuple[int, ...], preconfirm: bool, followups: tuple[ChangeSubscriptions, ...] = ()) -> None:
        # One per new subscriber: filling the instance dict directly costs about half the generated __init__ of a
        # frozen dataclass (object.__setattr__ per field); assignment still raises.
        self.__dict__.update(email=email, name=name, status=status, attribs=attribs, list_ids=list_ids,
                             preconfirm=preconfirm, followups=followups)


@dataclass(frozen=True)
class PatchSubscriber:
    """`PATCH /api/subscribers/:id` (listmonk >= 6.1): only the fields present change."""

    subscriber_id: int
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class ReplaceSubscriber:
    """`PUT /api/subscribers/:id` with the full record (every current list carried over, no preconfirm),
    for servers without PATCH and for attribute removals PATCH cannot express."""

    subscriber_id: int
    body: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RewriteProfile:
    """A name and attribute change that reaches the same end by either of two routes: `write` (the PATCH or PUT
    the change needs), or a row of a subscribe-mode import with `overwrite_userinfo` (listmonk >= 6.1) that names
    one of `list_ids`, lists the subscriber is already on. The row's `name` and complete `attribs` replace what
    listmonk holds; its status and every subscription status stay (overwrite_subscription_status off)."""

    write: Union[PatchSubscriber, ReplaceSubscriber]
    email: str
    name: str
    attribs: Mapping[str, Any]
    list_ids: tuple[int, ...]


@dataclass(frozen=True)
class BlocklistSubscriber:
    """`PUT /api/subscribers/blocklist`: blocklists and unsubscribes every subscription."""

    subscriber_id: int


@dataclass(frozen=True)
class DeleteSubscriber:
    subscriber_id: int


Operation = Union[
    CreateSubscriber, PatchSubscriber, ReplaceSubscriber, RewriteProfile, ChangeSubscriptions, BlocklistSubscriber,
    DeleteSubscriber,
]


@dataclass(frozen=True)
class SkippedChange:
    """A change the input asked for and the rules refused, kept for the audit trail."""

    subscriber: str
    subscriber_id: Optional[int]
    field: str
    incoming: Any
    kept: Any
    rule: str


Outcome = Literal["create", "update", "unchanged", "skipped", "deleted", "ignored"]


@dataclass(frozen=True)
class Plan:
    position: int
    key: str
    outcome: Outcome
    ops: tuple[Operation, ...] = ()
    skipped: tuple[SkippedChange, ...] = ()
    note: str = ""

    def __init__(self, position: int, key: str, outcome: Outcome, ops: tuple[Operation, ...] = (),
                 skipped: tuple[SkippedChange, ...] = (), note: str = "") -> None:
        # One per record: as CreateSubscriber's.
        self.__dict__.update(position=position, key=key, outcome=outcome, ops=ops, skipped=skipped, note=note)
