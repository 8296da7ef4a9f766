"""Sends the operations of a batch's plans to listmonk: new subscribers and profile rewrites by the batchful through
the importer where it carries them, other per-subscriber calls in parallel, subscription and blocklist changes
grouped into one call each. It sends nothing a plan does not contain; plans that would overwrite a subscription's
status are first handed to a re-check, which may take such changes out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Literal, Optional, Sequence, TypeVar

from destination_listmonk.bulk_import import BulkImporter
from destination_listmonk.pacing import AdaptiveConcurrency
from destination_listmonk.timings import Timings
from destination_listmonk.operations import (
    BlocklistSubscriber,
    ChangeSubscriptions,
    CreateSubscriber,
    DeleteSubscriber,
    PatchSubscriber,
    Plan,
    ReplaceSubscriber,
    RewriteProfile,
)
from listmonk_client.client import ListmonkClient
from listmonk_client.errors import Conflict, RequestRejected


@dataclass
class WriteResult:
    rejected: list[tuple[Plan, str]] = field(default_factory=list)
    conflicts: list[Plan] = field(default_factory=list)


_GroupKey = tuple[Literal["add", "unsubscribe"], tuple[int, ...], Optional[str]]
_PROFILE_WRITES = (PatchSubscriber, ReplaceSubscriber, RewriteProfile)
_ById = TypeVar("_ById", BlocklistSubscriber, DeleteSubscriber)  # the operations sent as lists of ids
# Given plans about to overwrite consent (what: "status" before their profile writes, nothing of them sent yet;
# "subscriptions" before their subscription changes), returns them as they stand against what listmonk holds now.
Recheck = Callable[[list[Plan], Literal["status", "subscriptions"]], list[Plan]]


def overwrites_subscriptions(plan: Plan) -> bool:
    """Whether the plan sends an `add` with a status to a subscriber it did not create: listmonk then overwrites the
    subscription row whatever it holds, an unsubscribe made since the lookup included."""
    return any(isinstance(op, ChangeSubscriptions) and op.action == "add" and op.status is not None
               and op.subscriber_id is not None for op in plan.ops)


def writes_status(plan: Plan) -> bool:
    """Whether the plan's profile write sets the subscriber's status: it overwrites a blocklist made since the lookup."""
    return any((isinstance(op, PatchSubscriber) and "status" in op.fields)
               or (isinstance(op, ReplaceSubscriber) and "status" in op.body) for op in plan.ops)


class Writer:
    def __init__(
        self, client: ListmonkClient, concurrency: int, bulk: Optional[BulkImporter] = None,
        timings: Optional[Timings] = None,
    ) -> None:
        self._client = client
        self._timings = timings or Timings()
        self.concurrency = AdaptiveConcurrency(concurrency)
        self._bulk = bulk

    def execute(self, plans: Sequence[Plan], recheck: Optional[Recheck] = None, gather: bool = False) -> WriteResult:
        """Sends the plans' operations; with `gather`, as `gathers(plans)` said, they join the next import."""
        result = WriteResult()
        failed: set[int] = set()
        created: dict[int, int] = {}

        def create(plan: Plan) -> None:
            op = plan.ops[0]
            if not isinstance(op, CreateSubscriber):
                return
            try:
                subscriber = self._client.create_subscriber(
                    email=op.email, name=op.name or "", status=op.status or "enabled",
                    lists=op.list_ids, attribs=dict(op.attribs), preconfirm=op.preconfirm,
                )
            except Conflict:
                result.conflicts.append(plan)
                failed.add(plan.position)
                return
            except RequestRejected as error:
                result.rejected.append((plan, f"listmonk refused the new subscriber: {error.message}"))
                failed.add(plan.position)
                return
            created[plan.position] = subscriber.id

        def profile(plan: Plan) -> None:
            for op in plan.ops:
                if isinstance(op, RewriteProfile):  # not carried by an import
                    op = op.write
                try:
                    if isinstance(op, PatchSubscriber):
                        self._client.patch_subscriber(op.subscriber_id, op.fields)
                    elif isinstance(op, ReplaceSubscriber):
                        self._client.put_subscriber(op.subscriber_id, op.body)
                except RequestRejected as error:
                    result.rejected.append((plan, f"listmonk refused the update: {error.message}"))
                    failed.add(plan.position)
                    return

        imported: set[int] = set()
        if self._bulk is not None:
            imported, skipped_rows = self._bulk.submit(plans, gather=gather)
            result.rejected.extend(skipped_rows)
            failed.update(plan.position for plan, _ in skipped_rows)
        rest = [p for p in plans if p.position not in imported]
        with self._timings.span("other_writes", 0):
            self._parallel(create, [p for p in rest if p.ops and isinstance(p.ops[0], CreateSubscriber)])
        profiles = [p for p in rest if any(isinstance(o, _PROFILE_WRITES) for o in p.ops)]
        if recheck is not None:
            fresh = self._rechecked(profiles, recheck, writes_status, "status")
            if fresh is not None:
                plans = [fresh.get(p.position, p) for p in plans]
                profiles = [fresh.get(p.position, p) for p in profiles]
        with self._timings.span("profile_calls", len(profiles)):
            self._parallel(profile, profiles)

        with self._timings.span("other_writes", 0):
            survivors = [p for p in plans if p.position not in failed]
            if recheck is not None:
                fresh = self._rechecked(survivors, recheck, overwrites_subscriptions, "subscriptions")
                survivors = [fresh.get(p.position, p) for p in survivors] if fresh is not None else survivors
            self._change_subscriptions(survivors, created, result, failed)
            survivors = [p for p in survivors if p.position not in failed]
            self._grouped_ids(survivors, BlocklistSubscriber, self._client.blocklist_subscribers, result, failed)
            self._grouped_ids(survivors, DeleteSubscriber, self._client.delete_subscribers, result, failed)
        return result

    def busy(self) -> bool:
        """Whether a write may still be running on listmonk or be gathered for an import; every other is done."""
        return self._bulk is not None and self._bulk.busy()

    def in_flight(self) -> tuple[AbstractSet[str], AbstractSet[str]]:
        """Keys and emails of the subscribers a still-running or gathered write (a bulk import) may be changing."""
        return self._bulk.in_flight() if self._bulk is not None else (frozenset(), frozenset())

    def first_in_flight(self) -> Optional[int]:
        """The lowest position of a record whose write may still be running or be gathered (None: there is none)."""
        return self._bulk.first_in_flight() if self._bulk is not None else None

    def gathers(self, plans: Sequence[Plan], lead_seconds: float) -> bool:
        """Whether `plans` are better sent with the next bulk import than after waiting for the running one (see
        BulkImporter.gathers); if so, `execute(plans, gather=True)` sends nothing yet."""
        return self._bulk is not None and self._bulk.gathers(plans, lead_seconds)

    def prepare(self, plans: Sequence[Plan]) -> None:
        """Gets ready, while a bulk import still runs, what `execute(plans)` will send when it has finished."""
        if self._bulk is not None:
            self._bulk.prepare(plans)

    def settle(self, everything: bool = True) -> list[tuple[Plan, str]]:
        """Waits for writes still running on listmonk (a bulk import), and with `everything` first sends the rows
        gathered for a later import; returns the records listmonk refused."""
        if self._bulk is None:
            return []
        return self._bulk.settle() if everything else self._bulk.wait()

    def take_interrupted(self) -> list[Plan]:
        """Plans whose writes listmonk lost by restarting (a bulk import it forgot); some rows may have landed."""
        return self._bulk.take_interrupted() if self._bulk is not None else []

    def _parallel(self, work: Callable[[Plan], None], plans: list[Plan]) -> None:
        if not plans:
            return
        retries_before = self._client.stats.retries
        workers = self.concurrency.current
        if workers == 1 or len(plans) == 1:
            for plan in plans:
                work(plan)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                # list() re-raises the first unexpected error (auth, retries exhausted...) so the batch fails.
                list(pool.map(work, plans))
        self.concurrency.observe(pushed_back=self._client.stats.retries > retries_before)

    @staticmethod
    def _rechecked(plans: list[Plan], recheck: Recheck, overwrites: Callable[[Plan], bool],
                   what: Literal["status", "subscriptions"]) -> Optional[dict[int, Plan]]:
        """By position, the plans that would overwrite consent as they stand now (None: there are none). As late as
        possible, right before the calls: the window for a concurrent unsubscribe or blocklist shrinks from the
        whole batch to this one step."""
        overwriting = [p for p in plans if overwrites(p)]
        if not overwriting:
            return None
        return {p.position: p for p in recheck(overwriting, what)}

    def _change_subscriptions(
        self, plans: Sequence[Plan], created: dict[int, int], result: WriteResult, failed: set[int]
    ) -> None:
        groups: dict[_GroupKey, list[tuple[Plan, int]]] = defaultdict(list)
        for plan in plans:
            changes: list[ChangeSubscriptions] = [op for op in plan.ops if isinstance(op, ChangeSubscriptions)]
            first = plan.ops[0] if plan.ops else None
            if isinstance(first, CreateSubscriber):
                changes.extend(first.followups)
            for change in changes:
                subscriber_id = change.subscriber_id if change.subscriber_id is not None else created.get(plan.position)
                if subscriber_id is not None:
                    groups[(change.action, change.list_ids, change.status)].append((plan, subscriber_id))
        for (action, list_ids, status), members in groups.items():
            try:
                self._client.change_subscriptions([sid for _, sid in members], action, list_ids, status)
            except RequestRejected:
                # One bad member (e.g. deleted meanwhile) fails the whole call: isolate it.
                for plan, subscriber_id in members:
                    try:
                        self._client.change_subscriptions([subscriber_id], action, list_ids, status)
                    except RequestRejected as error:
                        result.rejected.append((plan, f"listmonk refused the subscription change: {error.message}"))
                        failed.add(plan.position)

    def _grouped_ids(
        self,
        plans: Sequence[Plan],
        kind: type[_ById],
        call: Callable[[list[int]], None],
        result: WriteResult,
        failed: set[int],
    ) -> None:
        members = [(plan, op.subscriber_id) for plan in plans for op in plan.ops if isinstance(op, kind)]
        if not members:
            return
        try:
            call([sid for _, sid in members])
        except RequestRejected:
            for plan, subscriber_id in members:
                try:
                    call([subscriber_id])
                except RequestRejected as error:
                    result.rejected.append((plan, f"listmonk refused the change: {error.message}"))
                    failed.add(plan.position)
