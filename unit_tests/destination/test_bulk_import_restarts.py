"""An import listmonk lost by restarting (it or its database) is planned again; an import listmonk failed for its
data still fails the sync, as before."""

from __future__ import annotations

from typing import Any

import pytest

from destination_listmonk.bulk_import import MIN_ROWS, BulkImporter
from destination_listmonk.operations import CreateSubscriber, Plan
from listmonk_client.errors import RequestRejected
from listmonk_client.models import ImportStatus

PLANS = [
    Plan(position=i, key=f"p{i}@example.com", outcome="create",
         ops=(CreateSubscriber(email=f"p{i}@example.com", name=None, status=None, attribs={}, list_ids=(3,),
                               preconfirm=False),))
    for i in range(MIN_ROWS)
]


class Listmonk:
    """Accepts one import and then reports `status` for it (named as ours unless `forgotten`) with `logs`."""

    def __init__(self, status: str, logs: str, forgotten: bool = False, imported: int = MIN_ROWS) -> None:
        self._status, self._logs, self._forgotten, self._imported = status, logs, forgotten, imported
        self.file_name = ""

    def start_import(self, params: Any, csv_text: str, file_name: str) -> ImportStatus:
        self.file_name = file_name
        return ImportStatus(name=file_name, status="importing")

    def wait_for_import(self, **_: Any) -> ImportStatus:
        if self._forgotten:
            return ImportStatus()  # listmonk after a restart: name "", status none
        return ImportStatus(name=self.file_name, status=self._status, total=MIN_ROWS, imported=self._imported)

    def import_logs(self) -> str:
        return f"importer.go:193: processing '{self.file_name}'\n{self._logs}" if not self._forgotten else ""


LOST = {
    "restart forgot it": Listmonk("none", "", forgotten=True),
    "database restarted": Listmonk(
        "failed", "error executing insert: pq: terminating connection due to administrator command\n"
        "error committing to DB: sql: transaction has already been committed or rolled back"),
    "database gone mid-batch": Listmonk(
        "finished", "error executing insert: driver: bad connection\nimported finished", imported=0),
}
REFUSED = {
    "no email column": Listmonk("failed", "'email' column not found in '/tmp/listmonk123.csv'"),
    "list deleted": Listmonk(
        "finished", 'error executing insert: pq: insert or update on table "subscriber_lists" violates foreign key '
        'constraint "subscriber_lists_list_id_fkey"\nimported finished', imported=0),
}


def submit_and_settle(listmonk: Listmonk) -> tuple[BulkImporter, list[tuple[Plan, str]]]:
    importer = BulkImporter(listmonk)  # type: ignore[arg-type]
    handled, rejected = importer.submit(PLANS)
    assert len(handled) == MIN_ROWS and rejected == []
    return importer, importer.settle()


@pytest.mark.parametrize("listmonk", LOST.values(), ids=LOST.keys())
def test_given_an_import_lost_to_a_restart_then_its_plans_are_handed_back_to_plan_again(listmonk: Listmonk) -> None:
    importer, skipped = submit_and_settle(listmonk)
    assert skipped == [] and not importer.busy()
    assert importer.take_interrupted() == PLANS and importer.take_interrupted() == []


@pytest.mark.parametrize("listmonk", REFUSED.values(), ids=REFUSED.keys())
def test_given_an_import_listmonk_failed_for_its_data_then_the_sync_still_fails_naming_it(listmonk: Listmonk) -> None:
    with pytest.raises(RequestRejected, match="ended 'failed'|stopped after 0 of"):
        submit_and_settle(listmonk)
