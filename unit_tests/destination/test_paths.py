"""Dotted paths and null handling: the fast paths for plain dicts answer exactly what the general ones do."""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from destination_listmonk import paths
from unit_tests.destination.read_only import ReadOnly


def reference_get(data: Mapping[str, Any], path: Sequence[str], default: Any = None) -> Any:
    """paths.get without its fast path for dicts."""
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return default
        node = node[key]
    return node


def reference_drop_nulls(data: Mapping[str, Any]) -> dict[str, Any]:
    """paths.drop_nulls without its fast path: a new dict at every depth."""
    return {
        key: reference_drop_nulls(value) if isinstance(value, Mapping) else value
        for key, value in data.items()
        if value is not None
    }


def as_mapping(kind: str, data: dict[str, Any]) -> Mapping[str, Any]:
    return {"dict": lambda: data, "ordered": lambda: OrderedDict(data), "proxy": lambda: MappingProxyType(data),
            "readonly": lambda: ReadOnly(data)}[kind]()


KEYS = st.sampled_from(["a", "b", "c"])
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=3),
                   st.lists(st.one_of(st.none(), st.integers(0, 2)), max_size=2),
                   st.tuples(st.none()))  # not a JSON value, yet kept as it is


def objects(kinds: st.SearchStrategy[str]) -> st.SearchStrategy[Mapping[str, Any]]:
    """Nested objects whose every level may be a dict, a dict subclass, or another kind of Mapping."""
    return st.recursive(
        st.tuples(kinds, st.dictionaries(KEYS, LEAVES, max_size=3)).map(lambda t: as_mapping(*t)),
        lambda inner: st.tuples(kinds, st.dictionaries(KEYS, st.one_of(LEAVES, inner), max_size=3))
        .map(lambda t: as_mapping(*t)),
        max_leaves=8,
    )


ANY_OBJECT = objects(st.sampled_from(["dict", "ordered", "proxy", "readonly"]))


def only_dicts(value: Any) -> bool:
    return type(value) is dict and all(only_dicts(v) for v in value.values() if isinstance(v, Mapping))


@settings(max_examples=300)
@given(ANY_OBJECT, st.lists(KEYS, max_size=3))
def test_property_get_and_has_answer_as_the_general_path(data: Mapping[str, Any], path: list[str]) -> None:
    missing = object()
    assert paths.get(data, path) is reference_get(data, path)
    assert paths.get(data, path, missing) is reference_get(data, path, missing)
    assert paths.has(data, path) is (reference_get(data, path, missing) is not missing)


def test_get_tells_a_held_null_from_a_missing_key() -> None:
    assert paths.get({"a": None}, ["a"], "default") is None
    assert paths.get({"a": {"b": None}}, ["a", "b"], "default") is None
    assert paths.get({"a": {}}, ["a", "b"], "default") == "default"
    assert paths.has({"a": {"b": None}}, ["a", "b"]) and not paths.has({"a": {"b": None}}, ["a", "c"])


def test_get_never_steps_into_a_value_that_is_not_an_object() -> None:
    assert paths.get({"a": "text"}, ["a", "b"], "default") == "default"
    assert paths.get({"a": [{"b": 1}]}, ["a", "b"], "default") == "default"
    assert paths.get({"a": ReadOnly({"b": 1})}, ["a", "b"]) == 1


def test_get_asks_a_mapping_subclass_by_membership_so_a_defaultdict_grows_no_key() -> None:
    grows: defaultdict[str, Any] = defaultdict(dict, {"a": 1})
    assert paths.get(grows, ["b"], "default") == "default"
    assert "b" not in grows


@settings(max_examples=300)
@given(ANY_OBJECT)
def test_property_drop_nulls_answers_as_the_general_path(data: Mapping[str, Any]) -> None:
    cleaned = paths.drop_nulls(data)
    assert cleaned == reference_drop_nulls(data)
    assert only_dicts(cleaned)  # never another Mapping, at any depth
    assert list(cleaned) == list(reference_drop_nulls(data))  # the keys in the same order


def test_drop_nulls_drops_nested_nulls_and_returns_a_dict_with_nothing_to_drop_as_it_is() -> None:
    flat = {"a": 1, "b": "x", "c": [None], "d": 1.5, "e": True}
    assert paths.drop_nulls(flat) is flat  # arrays are kept as they are, nulls and all
    assert paths.drop_nulls({"a": 1, "b": None}) == {"a": 1}
    assert paths.drop_nulls({"a": {"b": None, "c": {"d": None}}, "e": 2}) == {"a": {"c": {}}, "e": 2}
    nested = {"a": {"b": 1}}
    assert paths.drop_nulls(nested) == nested and paths.drop_nulls(nested)["a"] is not nested["a"]
    for other in (OrderedDict(a=1), MappingProxyType({"a": 1}), ReadOnly({"a": 1})):
        assert type(paths.drop_nulls(other)) is dict and paths.drop_nulls(other) == {"a": 1}


def test_strip_nested_nulls_keeps_top_level_nulls_and_builds_every_object_anew() -> None:
    data = {"a": None, "b": {"c": 1, "d": None}, "e": {"f": 1}}
    stripped = paths.strip_nested_nulls(data)
    assert stripped == {"a": None, "b": {"c": 1}, "e": {"f": 1}}
    # Its callers change the result in place (protection restores protected paths in it).
    assert stripped["e"] is not data["e"]
    stripped["e"]["f"] = 2
    assert data["e"] == {"f": 1}
