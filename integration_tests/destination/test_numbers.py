"""listmonk holds every attribute number as a Go float64 and writes it back in Go's shortest form
(6.196429204330906e+16 as 61964292043309060, 1.0 as 1): a re-sync of the same records still finds them unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from integration_tests.destination.harness import config, subscribers_of, with_states, write
from listmonk_client.client import ListmonkClient

NUMBERS: dict[str, Any] = {
    "big": 6.196429204330906e16, "one": 1.0, "half": 2.5, "zero": -0.0, "cents": 0.1, "tiny": 1e-7,
    "large_int": 2**60 + 1, "negative": -123456789012345678.0,
    "nested": {"one": 1.0, "list": [3.0, 6.196429204330906e16, {"large_int": 2**60 + 1}]},
}


@pytest.mark.parametrize("bulk_import", [True, False])
def test_given_attributes_holding_numbers_go_rewrites_then_a_resync_finds_every_record_unchanged(
    listmonk: Any, client: ListmonkClient, domain: str, bulk_import: bool
) -> None:
    news = client.create_list(f"news-{domain}")
    people = [{"email": f"n{i}@{domain}", "name": f"Numbers {i}", **NUMBERS, "n": i + 0.0} for i in range(6)]
    people[0]["huge"] = [1e21, {"e": -1e300}]  # Go writes 1e+21, the export (PostgreSQL's text) 22 digits
    settings = config(listmonk, target_lists=[str(news.id)], advanced={"bulk_import": bulk_import})
    assert write(settings, with_states(people, every=6)).summary["created"] == 6
    held = subscribers_of(client, domain)[f"n1@{domain}"].attribs
    assert held["big"] == 61964292043309060 and held["large_int"] == 1152921504606847000
    assert type(held["one"]) is int and held["nested"]["list"][0] == 3 and held["zero"] == 0

    by_lookup = write(settings, with_states(people, every=6))
    by_export = write(config(listmonk, target_lists=[str(news.id)], advanced={"snapshot_lookup": "always"}),
                      with_states(people, every=6))

    for run in (by_lookup, by_export):
        assert (run.summary["unchanged"], run.summary["updated"]) == (6, 0)
    assert by_export.events("timings")[0]["calls"]["lookup"] == 0  # every record judged by the export


def test_given_an_attribute_turning_from_a_number_to_a_boolean_then_the_resync_writes_it(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    # Python's == takes 1 for true; listmonk holds them apart.
    people = [{"email": f"b{i}@{domain}", "name": f"Flag {i}", "flag": 1, "nested": {"off": 0}} for i in range(3)]
    settings = config(listmonk)
    write(settings, with_states(people, every=3))
    flipped = [{**p, "flag": True, "nested": {"off": False}} for p in people]
    again = write(settings, with_states(flipped, every=3))
    assert (again.summary["updated"], again.summary["unchanged"]) == (3, 0)
    held = subscribers_of(client, domain)[f"b1@{domain}"].attribs
    assert held["flag"] is True and held["nested"]["off"] is False
    assert write(settings, with_states(flipped, every=3)).summary["unchanged"] == 3
