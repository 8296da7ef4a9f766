"""Runs a write: buffers records, and per batch maps, looks up, plans (through the protection rules) and
writes. A STATE message is passed on only after every record before it is committed in listmonk."""

from __future__ import annotations

import itertools
import time
from typing import Iterable, Iterator, Optional, Union

from airbyte_cdk.models import AirbyteMessage, FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_listmonk.activation import Routes
from destination_listmonk.audit import Audit
from destination_listmonk.bulk_import import BulkImporter
from destination_listmonk.config import Capability, DestinationConfig
from destination_listmonk.lookup import SubscriberLookup
from destination_listmonk.mapping import Desired, Rejected
from destination_listmonk.operations import Plan
from destination_listmonk.protection import plan, recheck_status, recheck_subscriptions
from destination_listmonk.export_process import start_export
from destination_listmonk.snapshot import (
    BackgroundExport, ExportFailed, MalformedExport, Snapshot, SnapshotPolicy, Verdict, WrittenEmails,
)
from destination_listmonk.staging import Staged
from destination_listmonk.timings import Timings
from destination_listmonk.writer import Writer, WriteResult
from listmonk_client.client import ListmonkClient
from listmonk_client.errors import ListmonkError
from listmonk_client.models import SubscriberState

MIN_RECORDS_FOR_RATIO = 100
# Records read and mapped ahead while the export is awaited (about 1 KB each), so that reading the input overlaps
# listmonk streaming the export instead of following it.
READ_AHEAD_RECORDS = 20_000
READ_AHEAD_STEP = 1_000  # records read ahead between two looks at the export
# Imports lost to listmonk restarts one after the other before the sync gives up for Airbyte to retry later.
MAX_LOST_IMPORTS_IN_A_ROW = 5
LOOKUP_ROUNDS = 4  # rounds of `concurrency` lookup calls whose subscribers are planned before the next are looked up


class SubscriberSync:
    def __init__(
        self,
        config: DestinationConfig,
        client: ListmonkClient,
        routes: Routes,
        audit: Audit,
    ) -> None:
        self._config = config
        self._routes = routes
        self._audit = audit
        self._timings = Timings()
        self._lookup = SubscriberLookup(
            client, config.match_key, config.advanced.lookup_keys_per_call, config.advanced.concurrency, self._timings
        )
        bulk = BulkImporter(client, self._timings) if config.advanced.bulk_import and not config.dry_run else None
        self._writer = Writer(client, config.advanced.concurrency, bulk, self._timings)
        self._buffer: list[Union[Desired, Rejected]] = []
        # With when each arrived, and the position of the last record before it.
        self._held_states: list[tuple[AirbyteMessage, float, int]] = []
        self._planned_through = 0  # every record up to this position is planned and its writes started
        self._ready_states: list[AirbyteMessage] = []
        self._position = 0
        self._flush_at = config.advanced.batch_size  # buffered records that call for planning
        self._client = client
        # The records of writes listmonk may still lose to a restart (a running import), to plan them again.
        self._unsettled: dict[int, Desired] = {}
        self._lost_imports_in_a_row = 0
        self._last_write_at = time.monotonic()  # when the last batch's writes were started (or gathered)
        self._snapshot: Optional[Snapshot] = None
        self._loader: Optional[BackgroundExport] = None
        self._loader_started_after = 0  # records seen when the export started
        self._snapshot_policy = SnapshotPolicy(
            config.advanced.snapshot_lookup if config.match_key == "email" else "never", config.advanced.batch_size,
            whole_dataset=routes.whole_dataset, probe_records=config.advanced.lookup_keys_per_call,
        )
        self._probed = False
        # The read-ahead records judged by the export's first rows so far: the first `_prejudged` of the buffer,
        # by the loader's partial snapshot number `_prejudged_with`; the keys of those kept.
        self._prejudged = 0
        self._prejudged_with = 0
        self._kept_keys: set[str] = set()
        self._looked_up = 0  # records looked up so far, and how many of them listmonk held
        self._found = 0
        # "Unchanged" can be judged from the export only where the plan would not look at subscriptions or
        # rewrite nulls: the export has neither lists nor a way to tell a null from a missing key.
        self._unchanged_shortcut = config.null_values == "skip" and all(
            c.mapping.lists_field is None and not (Capability.LISTS in r.capabilities and c.target_lists)
            for c, r in zip(routes.configs, routes.rules)
        )

    def run(self, staged: Iterable[Staged]) -> Iterator[AirbyteMessage]:
        try:
            yield from self._run(staged)
        except Exception:
            # STATEs whose records are all committed go out even when a later write fails: a retry resumes there.
            yield from self._pass_ready_states()
            raise
        finally:
            if self._loader is not None:  # the sync ended (or failed) before it needed the export
                self._loader.cancel()

    def _run(self, staged: Iterable[Staged]) -> Iterator[AirbyteMessage]:
        export_early_at = self._snapshot_policy.start_records  # read once: the loop runs once a record
        for item in staged:
            if isinstance(item, AirbyteMessage):  # a STATE, stamped with its records' count
                yield from self._flush(settle=False)
                # Passed on once every record before it is committed: at once, or, while an import still runs,
                # once it has finished (at the latest when the next batch is planned), so that the next batch is
                # read and looked up meanwhile.
                self._held_states.append((item, time.monotonic(), self._position))
                yield from self._flush(settle=not self._writer.busy())
                continue
            self._position = self._audit.summary.records = item.position
            self._buffer.append(item)
            if len(self._buffer) >= self._flush_at:
                # A bulk import may still run when this returns: the next batch is read meanwhile.
                yield from self._flush(settle=False)
            elif item.position == export_early_at:  # a full refresh: the export starts early
                self._start_export_when_due()
        yield from self._flush(settle=True, final=True)
        self._audit.info("timings", **self._timings.report())
        self._audit.finish()
        yield from self._audit.drain()

    def _flush(self, settle: bool, final: bool = False) -> Iterator[AirbyteMessage]:
        if self._buffer and not final and self._reading_ahead():
            self._flush_at = len(self._buffer) + READ_AHEAD_STEP
            # Only the STATEs whose records were all found unchanged in the export's first rows.
            yield from self._pass_ready_states()
            return
        buffered, self._buffer, self._prejudged = self._buffer, [], 0
        size = self._flush_at = self._config.advanced.batch_size
        end = len(buffered)
        if not final and end > size:
            # Records read ahead go in whole batches (each batch is an import); the rest waits for more records.
            end -= end % size
            self._buffer = buffered[end:]
        for start in range(0, end, size):
            with self._timings.span("plan"):
                latest, plans, gather = self._plan_batch(buffered[start:min(start + size, end)],
                                                         len(buffered) - start if final else None)
            # Planning waited for the previous import: the STATEs it held go out before this batch's writes,
            # which may fail. The audit goes out first, so a policy failure comes after its reasons.
            yield from self._audit.drain()
            self._enforce_rejection_policy()
            yield from self._pass_ready_states()
            self._write_batch(latest, plans, gather)
            self._planned_through = buffered[min(start + size, end) - 1].position
            self._audit.progress()
        self._planned_up_to_buffer()  # records dropped as unchanged while read ahead may follow the last planned
        if settle:
            self._settle()
        yield from self._audit.drain()
        self._enforce_rejection_policy()
        yield from self._pass_ready_states()

    def _pass_ready_states(self) -> Iterator[AirbyteMessage]:
        ready, self._ready_states = self._ready_states, []
        yield from ready

    def _settle(self, everything: bool = True) -> None:
        if everything and self._writer.busy():
            # The running import first: the STATEs it completes are ready before the gathered rows are sent, which
            # may fail.
            self._settle_writes(everything=False)
        self._settle_writes(everything)

    def _settle_writes(self, everything: bool) -> None:
        while True:
            for failed_plan, reason in self._writer.settle(everything):
                self._refused(failed_plan, reason)
            if not self._redo_lost_writes():
                break
        first_in_flight = self._writer.first_in_flight()
        if first_in_flight is not None:  # rows still gathered for a later import: keep only what it may need to redo
            keys = self._writer.in_flight()[0]
            self._unsettled = {position: item for position, item in self._unsettled.items() if item.key in keys}
        else:
            self._unsettled.clear()
        # Every write started is done now but the gathered rows' (and their import's): the STATEs that follow planned
        # records and come before those rows only follow committed ones. Those after records still read ahead wait
        # for them.
        last_committed = self._planned_through if first_in_flight is None else min(
            self._planned_through, first_in_flight - 1)
        waiting = []
        for message, held_since, after in self._held_states:
            if after > last_committed:
                waiting.append((message, held_since, after))
                continue
            self._timings.state_released(held_since)
            self._ready_states.append(message)
        self._held_states = waiting

    def _redo_lost_writes(self) -> bool:
        """Plans again, from a fresh lookup, the records of imports listmonk lost by restarting, and writes them:
        some of their rows may have landed, and the rules must see what listmonk holds now. Whether there were any."""
        lost = self._writer.take_interrupted()
        if not lost:
            self._lost_imports_in_a_row = 0
            return False
        self._lost_imports_in_a_row += 1
        if self._lost_imports_in_a_row > MAX_LOST_IMPORTS_IN_A_ROW:
            raise AirbyteTracedException(
                message=f"listmonk lost {MAX_LOST_IMPORTS_IN_A_ROW} imports in a row (it kept restarting); nothing "
                "after the last STATE is counted as written, and the next attempt plans it again.",
                failure_type=FailureType.transient_error,
            )
        self._audit.warning("listmonk lost a running import (it restarted); its records are planned again",
                            records=len(lost))
        for written in lost:
            self._audit.unplanned(written)
        replanned = self._plan([self._unsettled[p.position] for p in lost])
        by_position = {p.position: p for p in lost}
        for again in replanned:
            if not again.ops and by_position[again.position].ops:
                self._audit.landed(by_position[again.position], again)
        self._write_and_resolve(replanned, self._unsettled)
        return True

    def _refused(self, failed_plan: Plan, reason: str) -> None:
        """listmonk refused a planned write: the record is rejected rather than counted as written."""
        self._audit.unplanned(failed_plan)
        self._audit.rejected(failed_plan.position, reason, failed_plan.key)

    def _reading_ahead(self) -> bool:
        """Whether to go on reading rather than plan: the export is due to be waited for and not in yet, and fewer
        than READ_AHEAD_RECORDS records are buffered once those its first rows show unchanged are dropped."""
        self._start_export_when_due()
        if self._loader is None or self._loader.done():
            return False
        self._probe_when_due()
        if not self._export_wait_due():
            return False
        loader = self._loader
        self._drop_unchanged_read_ahead(loader)
        # With the buffer full, more of the export's first rows may free it: worth waiting for before the rest.
        while len(self._buffer) >= READ_AHEAD_RECORDS and loader.gives_partials and not loader.done():
            seen = loader.partials
            with self._timings.span("export_wait"):
                loader.wait_past(seen)
            if loader.partials == seen:  # none will come any more: the whole export is next
                break
            self._drop_unchanged_read_ahead(loader)
        return len(self._buffer) < READ_AHEAD_RECORDS

    def _drop_unchanged_read_ahead(self, loader: BackgroundExport) -> None:
        """While the export streams, the records read ahead that its first rows (the loader's partial snapshot)
        show unchanged are counted and dropped, as the whole export would have them, so that the sync reads on in
        the meantime and their STATEs pass. Not a record that follows one kept with the same key: the later must
        win, and only the plan sees to that."""
        partial, number = loader.partial, loader.partials
        if partial is None or not self._unchanged_shortcut:
            return
        start = self._prejudged if number == self._prejudged_with else 0
        self._prejudged_with = number  # a number, not the snapshot: an old one's memory goes once a new one is in
        if start == 0:
            self._kept_keys = set()
        buffer = self._buffer
        if start < len(buffer):
            kept, kept_keys = buffer[:start], self._kept_keys
            for item in itertools.islice(buffer, start, None):
                if isinstance(item, Desired):
                    if item.key not in kept_keys and partial.judge(item) is Verdict.UNCHANGED:
                        self._audit.unchanged_by_snapshot()
                        continue
                    kept_keys.add(item.key)
                kept.append(item)
            self._buffer, self._prejudged = kept, len(kept)
            self._planned_up_to_buffer()
        if self._held_states and self._held_states[0][2] <= self._planned_through and not self._writer.busy():
            self._settle()

    def _planned_up_to_buffer(self) -> None:
        """Every record before the first one still buffered is planned (its writes started) or found unchanged."""
        first = self._buffer[0].position if self._buffer else self._position + 1
        self._planned_through = max(self._planned_through, first - 1)

    def _probe_when_due(self) -> None:
        """Once, before a whole-dataset stream's first batch is looked up, unless the export is due anyway: one
        lookup call of its first records, so that a re-sync is told from a first load without looking up the
        whole batch."""
        if self._probed or self._looked_up or not self._snapshot_policy.probes or self._export_wait_due():
            return
        self._probed = True
        first = (item.key for item in self._buffer if isinstance(item, Desired))
        keys = list(dict.fromkeys(itertools.islice(first, self._config.advanced.lookup_keys_per_call)))
        self._looked_up += len(keys)
        self._found += len(self._lookup.by_key(keys))

    def _plan_batch(self, batch: list[Union[Desired, Rejected]],
                    records_left: Optional[int]) -> tuple[dict[str, Desired], list[Plan], bool]:
        """The batch's last record per key, their plans, and whether they join the next import (see
        `_plan_around_running_import`); once the input has ended, `records_left` to plan, this batch included."""
        latest: dict[str, Desired] = {}
        for item in batch:
            if isinstance(item, Rejected):
                self._audit.rejected(item.position, item.reason, hint=item.record_hint)
                continue
            previous = latest.pop(item.key, None)
            if previous is not None:
                self._audit.duplicate(item.key, previous.position, item.position)
            latest[item.key] = item  # re-inserted so the batch keeps record order
        if self._config.match_key != "email":
            self._one_claim_per_email(latest)
        self._use_snapshot_when_worth_it(records_left)
        plans, gather = self._plan_around_running_import(list(latest.values()))
        return latest, plans, gather

    def _write_batch(self, latest: dict[str, Desired], plans: list[Plan], gather: bool) -> None:
        self._last_write_at = time.monotonic()
        if self._config.dry_run:
            return
        written = self._written()
        if written is not None:
            for planned in plans:
                if planned.ops:
                    written.add(planned.key)
        # Only planned records can have writes to redo: those found unchanged in the export have no plan.
        self._unsettled.update((planned.position, latest[planned.key]) for planned in plans)
        self._write_and_resolve(plans, self._unsettled, gather)
        self._redo_lost_writes()  # an import of the batch that listmonk lost while the next one was started

    def _write_and_resolve(self, plans: list[Plan], desired: dict[int, Desired], gather: bool = False) -> None:
        """Writes `plans` (of the records in `desired`, by position; with `gather`, into the next import);
        refusals become rejections, and records someone else created meanwhile are planned again, once."""
        result = self._write(plans, desired, gather)
        for failed_plan, reason in result.rejected:
            self._refused(failed_plan, reason)
        if result.conflicts:
            # Created by someone else since the lookup: plan again against what listmonk now holds, once.
            for conflict in result.conflicts:
                self._audit.unplanned(conflict)
            retry = self._plan([desired[c.position] for c in result.conflicts])
            second = self._write(retry, desired)
            for failed_plan, reason in second.rejected:
                self._refused(failed_plan, reason)
            for conflict in second.conflicts:
                self._refused(conflict, "the email already belongs to another subscriber")

    def _plan_around_running_import(self, desired: list[Desired]) -> tuple[list[Plan], bool]:
        """Looks up and plans, while the previous batch's import still runs, every record that import (or the rows
        gathered for the next one) cannot have touched (neither its key nor its email is in it); the others once
        listmonk holds those rows, so that every lookup sees listmonk's state. Writes start only after the running
        import has finished, but for a batch whose writes all join a later import (new subscribers, gathered profile
        rewrites) when the running one will still run longer than this batch took to read and plan: whether it
        does."""
        keys, emails = self._writer.in_flight()
        now: list[Desired] = []
        later: list[Desired] = []
        for item in desired:
            (later if item.key in keys or item.email in emails else now).append(item)
        plans = self._plan(now)
        if not later:
            if self._writer.gathers(plans, time.monotonic() - self._last_write_at):
                return plans, True
            self._writer.prepare(plans)
        self._settle(everything=bool(later))
        if later:
            plans = sorted(plans + self._plan(later), key=lambda p: p.position)
        return plans, False

    def _start_export_when_due(self) -> None:
        if self._snapshot is not None or self._loader is not None:
            return
        if self._snapshot_policy.start_due(self._audit.summary.records, self._client.count_subscribers):
            compare_name = any(c.mapping.name_field or c.mapping.name_template for c in self._routes.configs)
            compare_status = any(c.mapping.status_field is not None for c in self._routes.configs)
            self._loader = start_export(self._client, compare_name, compare_status, self._snapshot_policy.known_count)
            self._loader_started_after = self._audit.summary.records
            # The import still running may change its subscribers after the export has read them.
            for email in self._writer.in_flight()[1]:
                self._loader.written.add(email)

    def _export_wait_due(self) -> bool:
        return self._snapshot_policy.wait_due(
            self._audit.summary.records, self._client.count_subscribers, self._found, self._looked_up)

    def _use_snapshot_when_worth_it(self, records_left: Optional[int]) -> None:
        """Takes the export once it is in, or waits for it when due; `records_left` once the input has ended."""
        self._start_export_when_due()
        if self._loader is None:
            return
        if not self._loader.done():
            if records_left is not None:
                due = self._snapshot_policy.worth_finishing(
                    records_left, self._loader.rows_read, self._client.count_subscribers)
            else:
                self._probe_when_due()
                due = self._export_wait_due()
            if not due:
                return
        seen = self._audit.summary.records
        loader, self._loader = self._loader, None
        try:
            with self._timings.span("export_wait"):
                self._snapshot = loader.result()
        except Exception as error:  # whatever broke the export, the sync goes on without it
            # The export only saves lookups: without it every record is looked up, as with `never`.
            self._snapshot_policy.give_up()
            known = isinstance(error, (ListmonkError, MalformedExport, ExportFailed))
            reason = str(error) if known else f"{type(error).__name__}: {error}"
            self._audit.warning("export snapshot unusable, every record is looked up", reason=reason)
            return
        self._audit.info("export snapshot loaded", subscribers=len(self._snapshot),
                         started_after_records=self._loader_started_after, after_records=seen,
                         seconds=round(time.monotonic() - loader.started, 3))

    def _written(self) -> Optional[WrittenEmails]:
        """Where to note what this sync writes: the snapshot's set of written emails, from the moment its export
        starts."""
        if self._snapshot is not None:
            return self._snapshot.written
        return self._loader.written if self._loader is not None else None

    def _one_claim_per_email(self, latest: dict[str, Desired]) -> None:
        """Two keys claiming one email in a batch: the first record keeps it, whatever order the parallel writes
        would have landed in."""
        owners: dict[str, Desired] = {}
        for item in list(latest.values()):
            if item.email is None or item.deleted:
                continue
            owner = owners.setdefault(item.email, item)
            if owner is not item:
                del latest[item.key]
                self._audit.rejected(
                    item.position,
                    f"email {item.email} is also claimed by record {owner.position} "
                    f"({self._config.match_key} '{owner.key}') in the same batch",
                    item.key,
                )

    def _write(self, plans: list[Plan], desired: dict[int, Desired], gather: bool = False) -> WriteResult:
        before = self._writer.concurrency.current
        result = self._writer.execute(plans, lambda overwriting, what: self._recheck(overwriting, desired, what),
                                      gather)
        after = self._writer.concurrency.current
        if after != before:
            reason = "listmonk pushed back (429/5xx retried)" if after < before else "no pushback"
            self._audit.info("write concurrency changed", concurrency=after, reason=reason)
        return result

    def _plan(self, desired: list[Desired]) -> list[Plan]:
        new_keys: set[str] = set()
        if self._snapshot is not None:
            desired = self._shortcut(self._snapshot, desired, new_keys)
        plans: list[Plan] = []
        # Looked up and planned a few rounds of lookup calls at a time: a subscriber as looked up costs about 2.5 KB,
        # 25 MB for a batch of 10,000 changed records held at once.
        chunk = self._config.advanced.lookup_keys_per_call * self._config.advanced.concurrency * LOOKUP_ROUNDS
        for start in range(0, len(desired), chunk):
            part = desired[start:start + chunk]
            to_look_up = [d for d in part if d.key not in new_keys]
            current = self._current_state(to_look_up)
            self._looked_up += len(to_look_up)
            self._found += sum(1 for found in current.values() if not isinstance(found, str))
            for item in part:
                found = current.get(item.key)
                if isinstance(found, str):
                    self._audit.rejected(item.position, found, item.key)
                    continue
                result = plan(item, found, self._routes.rules_of(item))
                self._audit.planned(result)
                plans.append(result)
        return plans

    def _recheck(self, plans: list[Plan], desired: dict[int, Desired], what: str) -> list[Plan]:
        """The plans (`what` = "status": whole, before anything of them is sent; "subscriptions": their
        subscription changes) planned again from a fresh lookup (one call per `lookup_keys_per_call` subscribers),
        right before they overwrite a subscriber's status or subscription statuses."""
        again_for = recheck_status if what == "status" else recheck_subscriptions
        items = [desired[p.position] for p in plans]
        current = self._current_state(items)
        rechecked: list[Plan] = []
        for planned, item in zip(plans, items):
            found = current.get(item.key)
            if not isinstance(found, SubscriberState):
                # Gone or re-keyed meanwhile: left as planned, as without the re-check.
                rechecked.append(planned)
                continue
            again = again_for(planned, item, found, self._routes.rules_of(item))
            if again != planned:
                self._audit.rechecked(planned, again)
            rechecked.append(again)
        return rechecked

    def _shortcut(self, snapshot: Snapshot, desired: list[Desired], new_keys: set[str]) -> list[Desired]:
        """Judges records against the export: certainly unchanged ones are counted and dropped, certainly new
        ones are noted so they skip the lookup; both still go nowhere near listmonk without a plan."""
        remaining = []
        for item in desired:
            verdict = snapshot.judge(item)
            if verdict is Verdict.UNCHANGED and self._unchanged_shortcut:
                self._audit.unchanged_by_snapshot()
                continue
            if verdict is Verdict.NEW:
                new_keys.add(item.key)
            remaining.append(item)
        return remaining

    def _current_state(self, desired: list[Desired]) -> dict[str, Union[SubscriberState, str]]:
        """Subscriber per key; with attribute matching, a record whose key is unknown falls back to its
        email, and is refused (a reason string) if that email belongs to a subscriber with another key."""
        found: dict[str, Union[SubscriberState, str]] = dict(self._lookup.by_key([d.key for d in desired]))
        if self._config.match_key == "email":
            return found
        missing = {d.email: d.key for d in desired if d.key not in found and d.email}
        if not missing:
            return found
        for email, subscriber in self._lookup.by_email(list(missing)).items():
            key = missing[email]
            other = self._lookup.key_of(subscriber)
            if other is None:
                found[key] = subscriber
            else:
                found[key] = f"email {email} belongs to subscriber {subscriber.id} whose {self._config.match_key} is '{other}'"
        return found

    def _enforce_rejection_policy(self) -> None:
        summary = self._audit.summary
        policy = self._config.rejected_records
        if summary.rejected and policy.policy == "fail":
            raise AirbyteTracedException(
                message="A record was rejected and the rejected-records policy is `fail`; see the audit trail for the reason.",
                failure_type=FailureType.config_error,
            )
        if summary.records >= MIN_RECORDS_FOR_RATIO and summary.rejected / summary.records > policy.max_rejected_ratio:
            raise AirbyteTracedException(
                message=(
                    f"{summary.rejected} of {summary.records} records were rejected, more than the allowed "
                    f"{policy.max_rejected_ratio:.0%}; check the field mapping (reasons are in the audit trail)."
                ),
                failure_type=FailureType.config_error,
            )

