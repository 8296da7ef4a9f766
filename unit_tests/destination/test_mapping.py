"""From an upstream record to the subscriber it describes: the mapping of the common cases, whatever kind of
Mapping the record is, and Desired behaving as the frozen dataclass it is declared as."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from destination_listmonk.config import DestinationConfig
from destination_listmonk.mapping import Desired, ListIntent, RecordMapper, Rejected
from unit_tests.destination.read_only import ReadOnly


class Lists:
    def resolve(self, ref: Any) -> int:
        return int(ref)


def mapper(**mapping: Any) -> RecordMapper:
    config = DestinationConfig.model_validate(
        {"url": "http://x", "username": "u", "token": "t", "target_lists": ["1"], "mapping": mapping})
    return RecordMapper(config, Lists())  # type: ignore[arg-type]


KINDS: list[Callable[[dict[str, Any]], Mapping[str, Any]]] = [dict, MappingProxyType, ReadOnly]


def test_desired_takes_its_fields_in_declared_order_with_their_defaults() -> None:
    declared = [(f.name, f.default) for f in dataclasses.fields(Desired)]
    parameters = list(inspect.signature(Desired).parameters.values())
    assert [(p.name, p.default if p.default is not p.empty else dataclasses.MISSING) for p in parameters] == declared
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters)


def test_desired_is_a_frozen_value() -> None:
    lists = (ListIntent(1, "confirmed"),)
    by_position = Desired(3, "k", "a@example.com", "Ann", {"plan": "pro"}, "enabled", lists, True)
    by_keyword = Desired(position=3, key="k", email="a@example.com", name="Ann", attribs={"plan": "pro"},
                         status="enabled", lists=lists, deleted=True)
    assert by_position == by_keyword and vars(by_position) == vars(by_keyword)
    assert repr(by_position) == (
        "Desired(position=3, key='k', email='a@example.com', name='Ann', attribs={'plan': 'pro'}, status='enabled', "
        "lists=(ListIntent(list_id=1, status='confirmed'),), deleted=True, stream=0)")
    assert Desired(1, "k") == Desired(1, "k", None, None, None, None, None, False, 0)
    assert hash(Desired(1, "k")) == hash(Desired(1, "k"))
    assert dataclasses.replace(by_position, name="Bea").name == "Bea" and by_position.name == "Ann"
    with pytest.raises(dataclasses.FrozenInstanceError):
        by_position.name = "Bea"  # type: ignore[misc]


@pytest.mark.parametrize("kind", KINDS, ids=["dict", "proxy", "mapping"])
def test_remaining_attributes_are_every_unmapped_field_in_record_order(
    kind: Callable[[dict[str, Any]], Mapping[str, Any]]
) -> None:
    record = {"_ab_cdc_lsn": 7, "plan": "pro", "email": " Ann@Example.com ", "nick": "A", "name": " Ann ",
              "_airbyte_raw_id": "r", "score": 0, "state": "Enabled", "crm": None}
    got = mapper(status_field="state", excluded_fields=["nick"]).map(kind(record), 5)
    assert got == Desired(position=5, key="ann@example.com", email="ann@example.com", name="Ann",
                          attribs={"plan": "pro", "score": 0, "crm": None}, status="enabled")
    assert isinstance(got, Desired) and list(got.attribs or {}) == ["plan", "score", "crm"]


@pytest.mark.parametrize("kind", KINDS, ids=["dict", "proxy", "mapping"])
def test_nested_paths_read_through_any_mapping(kind: Callable[[dict[str, Any]], Mapping[str, Any]]) -> None:
    record = kind({"contact": kind({"email": "bo@example.com", "who": kind({"name": "Bo"})}), "lists": "1, 2"})
    got = mapper(email_field="contact.email", name_field="contact.who.name", lists_field="lists").map(record, 1)
    assert isinstance(got, Desired)
    assert (got.key, got.name, got.lists, got.attribs) == (
        "bo@example.com", "Bo", (ListIntent(1), ListIntent(2)), {})
    assert mapper(email_field="contact.email.x").map(record, 1) == Rejected(1, "no email at 'contact.email.x'")


def test_the_first_unreadable_field_names_the_rejection_name_then_status_then_lists() -> None:
    bad = {"email": "a@example.com", "name": ["A"], "state": "gone", "lists": 5}
    check = mapper(status_field="state", lists_field="lists")
    assert check.map(bad, 1) == Rejected(1, "name at 'name' must be text", {"email": "a@example.com"})
    assert check.map({**bad, "name": "A"}, 1) == Rejected(
        1, "status 'gone' is not one of enabled, disabled, blocklisted", {"email": "a@example.com"})
    assert check.map({**bad, "name": "A", "state": "disabled"}, 1) == Rejected(
        1, "lists at 'lists' must be an array", {"email": "a@example.com"})


top_level_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=5),
    st.sampled_from(["a@example.com", " B@Example.COM ", "not-an-email", "", "  ", "x@y@z", "2026-01-01"]),
    st.just({"first": "A"}), st.just([1, "x"]),
)
top_level_records = st.dictionaries(
    st.sampled_from(["email", "name", "plan", "crm_id", "_ab_cdc_deleted_at", "_airbyte_raw_id", "mail", "full"]),
    top_level_values, max_size=7,
)


@settings(max_examples=300, deadline=None)
@given(top_level_records, st.sampled_from([{}, {"name_field": None}, {"email_field": "mail", "name_field": "full"},
                                           {"excluded_fields": ["plan"]}]),
       st.booleans(), st.sampled_from([dict, MappingProxyType]))
@example({"email": "a@example.com", "name": " A ", "_ab_cdc_deleted_at": "2026-01-01", "plan": None}, {}, False, dict)
@example({"email": "a@example.com", "name": {"first": "A"}}, {}, False, dict)
def test_the_common_mapping_maps_every_record_as_the_general_path_would(
    record: dict[str, Any], mapping: dict[str, Any], soft_delete: bool, kind: Callable[..., Mapping[str, Any]]
) -> None:
    common = mapper(**mapping)
    # The common mapping is the one the destination's default configuration makes: it must take its own path.
    assert "map" in vars(common)
    given = kind(record)
    assert common.map(given, 7, soft_delete) == RecordMapper.map(common, given, 7, soft_delete)
