"""Record paths with array steps: `email[0].value`, `email.0.value`, `email[primary=true].value`."""

from __future__ import annotations

import json
from typing import Any, Union

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from destination_listmonk import paths
from destination_listmonk.config import FieldMapping

Scalar = Union[str, int, bool, None]

# Keys as a CSV header or a CRM field name may spell them: anything but the path syntax's own characters.
KEYS = st.text(st.characters(blacklist_characters=".[]", blacklist_categories=("Cs",)), min_size=1, max_size=6).filter(
    lambda key: not key[0].isspace())
SCALARS: st.SearchStrategy[Scalar] = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5))
STEPS = st.one_of(
    st.tuples(st.just("key"), KEYS),
    st.tuples(st.just("index"), st.integers(-3, 3)),
    st.tuples(st.just("dotted_index"), st.integers(0, 3)),
    # A condition's key is read up to '=' and trimmed.
    st.tuples(st.just("where"), st.tuples(KEYS.filter(lambda k: "=" not in k and k == k.strip() and k != "no"), SCALARS)),
)


def render_value(value: Scalar) -> str:
    if isinstance(value, str) and value and value.strip() == value and not set(value) & set('[]"') \
            and value not in ("true", "false", "null") and not _looks_numeric(value):
        return value  # bare text
    return json.dumps(value)


def _looks_numeric(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def render(steps: list[tuple[str, Any]]) -> str:
    text = ""
    for kind, arg in steps:
        if kind == "key":
            text += ("." if text else "") + arg
        elif kind == "dotted_index":
            text += f".{arg}"
        elif kind == "index":
            text += f"[{arg}]"
        else:
            key, value = arg
            text += f"[{key}={render_value(value)}]"
    return text


def build(steps: list[tuple[str, Any]], leaf: Any, noise: st.DataObject) -> Any:
    """A record in which the path reaches `leaf`, with decoys the path must step past."""
    if not steps:
        return leaf
    (kind, arg), rest = steps[0], steps[1:]
    child = build(rest, leaf, noise)
    if kind == "key":
        record = {f"other{i}": i for i in range(noise.draw(st.integers(0, 2)))}
        record[arg] = child
        return record
    if kind in ("index", "dotted_index"):
        size = noise.draw(st.integers(max(arg + 1, -arg), max(arg + 1, -arg) + 2))
        items: list[Any] = [{"decoy": i} for i in range(size)]
        items[arg] = child
        return items
    key, value = arg
    assume(isinstance(child, dict) and (key not in child or paths._same(child[key], value)))
    decoys = [{key: "decoy" if value != "decoy" else "other"}, {"no": value}, [value], value]
    return noise.draw(st.lists(st.sampled_from(decoys), max_size=3)) + [{**child, key: value}, {key: value, "late": 1}]


@settings(max_examples=400)
@given(st.lists(STEPS, min_size=0, max_size=4), KEYS, st.data())
def test_property_a_rendered_path_reaches_what_was_placed_at_it(steps: list[tuple[str, Any]], first: str,
                                                                noise: st.DataObject) -> None:
    steps = [("key", first), *steps]
    if steps[-1][0] == "where":
        steps.append(("key", "leaf"))  # a condition reaches the element: look into it for the leaf
    leaf = object()
    record = build(steps, leaf, noise)
    assert paths.get(record, paths.parse(render(steps))) is leaf


@settings(max_examples=400)
@given(st.text(st.sampled_from('ab0-=.[]" te\\'), max_size=12))
def test_property_any_text_parses_or_is_refused_with_a_path_error_and_the_config_agrees(text: str) -> None:
    try:
        steps = paths.parse(text)
    except paths.PathError as error:
        assert f"'{text}' is not a record path" in str(error)
        with pytest.raises(ValidationError, match="is not a record path"):
            FieldMapping(email_field=text)
        return
    assert steps and isinstance(steps[0], str)
    assert FieldMapping(email_field=text).email_field == text


@given(st.lists(KEYS, min_size=1, max_size=4))
def test_property_plain_dotted_paths_parse_as_before(keys: list[str]) -> None:
    text = ".".join(keys)
    assert paths.parse(text) == paths.split(text) == tuple(keys)


JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.sampled_from(["a", "0", "primary"]), inner, max_size=3)))


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["a", "0"]), JSON, max_size=3),
       st.sampled_from(["a", "a.0", "a[0]", "a[-1]", "a[9]", "a.0.a", "a[primary=true]", "a[primary=1].a", "a[0][0]", "0"]))
def test_property_get_never_raises_on_any_json(record: dict[str, Any], text: str) -> None:
    paths.get(record, paths.parse(text), "default")


PERSON = {"email": [{"label": "home", "value": "ann@home.test", "primary": False},
                    {"label": "work", "value": "ann@work.test", "primary": True}],
          "tags": [1, True, "1"]}


@pytest.mark.parametrize("text, expected", [
    ("email[primary=true].value", "ann@work.test"),
    ("email[label=home].value", "ann@home.test"),
    ('email[label="work"].value', "ann@work.test"),
    ("email[ label = work ].value", "ann@work.test"),
    ("email[0].value", "ann@home.test"),
    ("email.1.value", "ann@work.test"),
    ("email[-1].label", "work"),
    ("email[primary=false].label", "home"),
])
def test_array_steps_pick_the_element(text: str, expected: str) -> None:
    assert paths.get(PERSON, paths.parse(text)) == expected


@pytest.mark.parametrize("text", [
    "email[2].value",             # past the end
    "email[label=other].value",   # nothing matches
    "email[primary=1].value",     # 1 is not true
    "email.value",                # an array has no keys
    "tags[x=1]",                  # elements that are not objects never match
    "email[0].value[0]",          # text is not an array
])
def test_array_steps_that_reach_nothing_answer_the_default(text: str) -> None:
    assert paths.get(PERSON, paths.parse(text), "default") == "default"


def test_conditions_tell_true_from_1_and_text_from_numbers() -> None:
    items = {"x": [{"k": 1, "n": "one"}, {"k": True, "n": "true"}, {"k": "1", "n": "text"}]}
    assert paths.get(items, paths.parse("x[k=true].n")) == "true"
    assert paths.get(items, paths.parse("x[k=1].n")) == "one"
    assert paths.get(items, paths.parse('x[k="1"].n')) == "text"
    assert paths.get(items, paths.parse("x[k=1.0].n")) == "one"  # JSON: 1 and 1.0 are one number


def test_a_key_of_digits_still_names_an_object_key() -> None:
    assert paths.get({"a": {"0": "zero"}}, paths.parse("a.0")) == "zero"
    assert paths.get({"a": {"0": "zero"}}, paths.parse("a[0]"), "default") == "default"


@pytest.mark.parametrize("text, says", [
    ("", "the path is empty"),
    ("email..value", "a key is missing at character 7"),
    ("[0].value", "a key is missing at character 1"),
    ("email[0", "the '[' at character 6 is not closed"),
    ("email[]", "'[]' is neither an index such as [0] nor a condition"),
    ("email[primary]", "'[primary]' is neither an index"),
    ("email[=true]", "has no key before '='"),
    ("email[primary=]", "has no value after '='"),
    ("email[0]value", "'v' at character 9 where '.', '[' or the end was expected"),
    ("email[a[0]]", "a '[' at character 8 inside the brackets"),
    ('email[label="work].value', "is not closed"),
    ('email[label="w\\q"]', "is not a well-formed quoted value"),
    (" email", "starts with a space"),
])
def test_bad_paths_are_config_errors_that_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValidationError) as error:
        FieldMapping(email_field=text)
    assert says in str(error.value) and "[primary=true]" in str(error.value)


def test_name_templates_and_attribute_fields_are_checked_too() -> None:
    assert FieldMapping(name_template="{first_name} {email[primary=true].label}")
    with pytest.raises(ValidationError, match="'email\\[0' is not a record path"):
        FieldMapping(name_template="{first_name} {email[0}")
    with pytest.raises(ValidationError, match="is not an attribute field"):
        FieldMapping(attributes="listed", attribute_fields=["phone[0].value"])
    with pytest.raises(ValidationError, match="is not an attribute field"):
        FieldMapping(attributes="listed", attribute_fields=["address..city"])
