"""The importer keeps listmonk busy: the next import's file is made before the running one ends (`prepare`), the
end of an import is polled for when it is due, and new subscribers planned while an import runs may join the next
one (`gathers`). None of it may change what is imported."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from destination_listmonk.bulk_import import MIN_ROWS, BulkImporter
from destination_listmonk.operations import CreateSubscriber, PatchSubscriber, Plan, RewriteProfile
from listmonk_client.models import ImportStatus


class Clock:
    """The importer's time here, moved only by the imports listmonk runs: a pause of the machine running the tests
    (a few tenths of a second on a busy CI machine) must not make a running import look over before its time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class Listmonk:
    """Records each import started (its parameters and file) and finishes it when waited for, `seconds` later."""

    clock = Clock()  # each test's own, from the fixture below

    def __init__(self, seconds: float = 0.0) -> None:
        self.started: list[tuple[dict[str, Any], str]] = []
        self.waits: list[float] = []
        self._seconds = seconds
        self._file_name = ""

    def start_import(self, params: dict[str, Any], csv_text: str, file_name: str) -> ImportStatus:
        self.started.append((params, csv_text))
        self._file_name = file_name
        return ImportStatus(name=file_name, status="importing")

    def wait_for_import(self, expected_seconds: float = 0.0, **_: Any) -> ImportStatus:
        self.waits.append(expected_seconds)
        self.clock.now += self._seconds
        rows = self.started[-1][1].count("\n") - 1
        return ImportStatus(name=self._file_name, status="finished", total=rows, imported=rows)

    def import_logs(self) -> str:
        return f"importer.go:193: processing '{self._file_name}'\nimported finished"


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(Listmonk, "clock", clock)
    monkeypatch.setattr("destination_listmonk.bulk_import.time", SimpleNamespace(monotonic=clock.monotonic))


def create(position: int, lists: tuple[int, ...], preconfirm: bool) -> Plan:
    email = f"c{position}@example.com"
    op = CreateSubscriber(email=email, name=f"C {position}", status=None, attribs={"n": position}, list_ids=lists,
                          preconfirm=preconfirm)
    return Plan(position, email, "create", (op,))


def rewrite(position: int, lists: tuple[int, ...]) -> Plan:
    email = f"r{position}@example.com"
    op = RewriteProfile(PatchSubscriber(position, {"name": "R"}), email, "R", {"n": position}, lists)
    return Plan(position, email, "update", (op,))


LISTS = st.sampled_from([(1,), (2,), (1, 2)])
GROUP = st.tuples(st.sampled_from(["create", "rewrite"]), LISTS, st.booleans(), st.integers(0, MIN_ROWS * 2))


@st.composite
def batches(draw: Any) -> list[Plan]:
    plans: list[Plan] = []
    for kind, lists, preconfirm, size in draw(st.lists(GROUP, max_size=4)):
        for _ in range(size):
            position = len(plans) + 1
            plans.append(create(position, lists, preconfirm) if kind == "create" else rewrite(position, lists))
    return draw(st.permutations(plans))


def imports_of(batches_in_order: list[list[Plan]], prepare_with: list[list[Plan]]) -> list[tuple[dict[str, Any], str]]:
    listmonk = Listmonk()
    importer = BulkImporter(listmonk, gather_seconds=0.0)  # type: ignore[arg-type]
    for plans, prepared in zip(batches_in_order, prepare_with):
        importer.prepare(prepared)
        importer.submit(plans)
    importer.settle()
    return listmonk.started


@settings(max_examples=150, deadline=None)
@given(first=batches(), second=batches(), stale=batches())
def test_given_a_prepared_batch_then_the_imports_are_those_an_unprepared_one_starts(
    first: list[Plan], second: list[Plan], stale: list[Plan]
) -> None:
    second = [Plan(p.position + 1000, p.key + "x", p.outcome, p.ops) for p in second]
    unprepared = imports_of([first, second], [[], []])
    assert imports_of([first, second], [first, second]) == unprepared
    # Prepared for other plans (or a copy of the same ones): nothing of it may be sent.
    assert imports_of([first, second], [stale, list(second)]) == unprepared


def test_given_an_import_as_large_as_the_last_then_its_end_is_polled_for_when_due() -> None:
    listmonk = Listmonk(seconds=0.5)
    importer = BulkImporter(listmonk)  # type: ignore[arg-type]
    plans = [create(i, (1,), False) for i in range(MIN_ROWS)]
    importer.submit(plans)
    importer.settle()
    importer.submit([create(i + MIN_ROWS, (1,), False) for i in range(MIN_ROWS)])
    importer.settle()
    importer.submit([rewrite(i + 2 * MIN_ROWS, (1,)) for i in range(MIN_ROWS)])
    importer.settle()
    first, second, other_kind = listmonk.waits
    # The first import of a kind has no pace to go by; the next is expected to take about as long.
    assert first == 0 and 0.2 < second < 1.0 and other_kind == 0


def emails_of(csv_text: str) -> list[str]:
    return [line.split(",", 1)[0] for line in csv_text.splitlines()[1:]]


def test_given_new_subscribers_planned_while_an_import_runs_then_they_join_the_next_one() -> None:
    listmonk = Listmonk(seconds=0.3)
    importer = BulkImporter(listmonk)  # type: ignore[arg-type]
    first, second, third, fourth = ([create(100 * k + i, (1,), False) for i in range(MIN_ROWS)] for k in range(4))
    assert not importer.gathers(first, lead_seconds=0.0)  # nothing runs
    importer.submit(first)
    assert not importer.gathers(second, lead_seconds=0.0)  # the first import of a kind has no pace to go by
    importer.wait()
    importer.submit(second)
    # The running import has about 0.3 s to go: worth joining the next one unless the sync needs longer than that.
    assert not importer.gathers(third, lead_seconds=5.0)
    assert importer.gathers(third, lead_seconds=0.01)
    importer.submit(third, gather=True)
    assert len(listmonk.started) == 2 and importer.first_in_flight() == second[0].position
    importer.prepare(fourth)
    importer.wait()
    importer.submit(fourth)
    importer.settle()
    assert [emails_of(text) for _, text in listmonk.started] == [
        [p.key for p in batch] for batch in (first, second, third + fourth)
    ]
    assert importer.first_in_flight() is None


def test_given_anything_the_importer_does_not_carry_then_the_batch_waits_for_the_running_import(
    monkeypatch: Any,
) -> None:
    listmonk = Listmonk(seconds=0.3)
    importer = BulkImporter(listmonk)  # type: ignore[arg-type]
    importer.submit([create(i, (1,), False) for i in range(MIN_ROWS)])
    importer.wait()
    importer.submit([create(100 + i, (1,), False) for i in range(MIN_ROWS)])
    new = [create(200 + i, (1,), False) for i in range(MIN_ROWS)]
    patch = Plan(300, "p@example.com", "update", (PatchSubscriber(7, {"name": "P"}),))
    assert not importer.gathers(new + [patch], lead_seconds=0.0)
    assert not importer.gathers(new + [rewrite(301, (1,))], lead_seconds=0.0)  # one rewrite is not worth an import
    assert not importer.gathers(new[:MIN_ROWS - 1], lead_seconds=0.0)  # too few for an import of their own
    monkeypatch.setattr("destination_listmonk.bulk_import.NEW_IMPORT_ROWS", 2 * MIN_ROWS - 1)
    assert not importer.gathers(new, lead_seconds=0.0)  # this batch and one like it would not fit
    monkeypatch.setattr("destination_listmonk.bulk_import.NEW_IMPORT_ROWS", 2 * MIN_ROWS)
    assert importer.gathers(new + [Plan(400, "same@example.com", "unchanged")], lead_seconds=0.0)
    importer.settle()


def running_import(importer: BulkImporter) -> None:
    """Leaves an import of new subscribers running, one of its kind having finished before (so its pace is known)."""
    importer.submit([create(i, (1,), False) for i in range(MIN_ROWS)])
    importer.wait()
    importer.submit([create(100 + i, (1,), False) for i in range(MIN_ROWS)])


def test_given_profile_rewrites_planned_while_an_import_runs_then_they_wait_for_a_later_import_until_theirs_is_due(
) -> None:
    listmonk = Listmonk(seconds=0.3)
    importer = BulkImporter(listmonk, import_rows=3 * MIN_ROWS)  # type: ignore[arg-type]
    running_import(importer)
    first, second, third = ([rewrite(1000 * k + i, (1,)) for i in range(MIN_ROWS)] for k in (1, 2, 3))
    assert importer.gathers(first + [create(500, (1,), False)] * MIN_ROWS, lead_seconds=0.0)  # with new ones too
    assert importer.gathers(first, lead_seconds=0.0)
    importer.submit(first, gather=True)
    assert importer.gathers(second, lead_seconds=0.0)
    assert not importer.gathers(second, lead_seconds=5.0)  # the running import ends before the sync would be back
    importer.submit(second, gather=True)
    assert not importer.gathers(third, lead_seconds=0.0)  # with these, the rewrites' import is due: it is sent now
    assert len(listmonk.started) == 2 and importer.first_in_flight() == 100
    importer.submit(third)
    importer.settle()
    assert [emails_of(text) for _, text in listmonk.started][2:] == [[p.key for p in first + second + third]]


def test_given_profile_rewrites_gathered_for_longer_than_allowed_then_the_next_batch_waits_for_the_running_import(
) -> None:
    listmonk = Listmonk(seconds=0.3)
    importer = BulkImporter(listmonk, gather_seconds=0.0)  # type: ignore[arg-type]
    running_import(importer)
    first = [rewrite(1000 + i, (1,)) for i in range(MIN_ROWS)]
    assert importer.gathers(first, lead_seconds=0.0)
    importer.submit(first, gather=True)
    assert not importer.gathers([rewrite(2000 + i, (1,)) for i in range(MIN_ROWS)], lead_seconds=0.0)
    importer.settle()


class RestartingListmonk(Listmonk):
    """Also remembers the rows of every import that ended, and forgets one import (a restart) when told to."""

    def __init__(self) -> None:
        super().__init__()
        self.ended: set[str] = set()
        self.restart = False

    def wait_for_import(self, expected_seconds: float = 0.0, **_: Any) -> ImportStatus:
        status = super().wait_for_import(expected_seconds)
        self.ended.update(emails_of(self.started[-1][1]))
        if self.restart:
            self.restart = False
            return ImportStatus(name="", status="none")
        return status


STEP = st.one_of(
    st.tuples(st.just("submit"), batches(), st.booleans()), st.just(("wait",)), st.just(("settle",)),
    st.just(("restart",)),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(STEP, max_size=8))
def test_given_rows_gathered_sent_and_ended_then_in_flight_names_the_rows_listmonk_may_not_hold_yet(
    steps: list[Any]
) -> None:
    listmonk = RestartingListmonk()
    importer = BulkImporter(listmonk)  # type: ignore[arg-type]
    handed: dict[str, str] = {}  # email -> key of every row the importer took
    for number, step in enumerate(steps):
        if step[0] == "submit":
            plans = [renamed(p, f"s{number}-") for p in step[1]]
            positions, _ = importer.submit(plans, gather=step[2])
            handed.update((_email(p), p.key) for p in plans if p.position in positions)
        elif step[0] == "wait":
            importer.wait()
        elif step[0] == "settle":
            importer.settle()
        else:
            listmonk.restart = True
        keys, emails = importer.in_flight()
        held_or_lost = listmonk.ended  # a lost import's rows are planned again by the sync, not waited for
        assert set(emails) == set(handed) - held_or_lost
        assert set(keys) == {key for email, key in handed.items() if email not in held_or_lost}


def renamed(plan: Plan, prefix: str) -> Plan:
    op = plan.ops[0]
    assert isinstance(op, (CreateSubscriber, RewriteProfile))
    return Plan(plan.position, "key-" + prefix + plan.key, plan.outcome, (replace(op, email=prefix + op.email),))


def _email(plan: Plan) -> str:
    op = plan.ops[0]
    assert isinstance(op, (CreateSubscriber, RewriteProfile))
    return op.email
