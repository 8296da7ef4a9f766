"""Reading stdin: every non-blank line is either an Airbyte message or an UnreadableLine naming its number."""

from __future__ import annotations

import json
from unittest.mock import patch

from hypothesis import example, given, settings
from hypothesis import strategies as st

from destination_listmonk.input_messages import UnreadableLine, read_messages

RECORD = json.dumps({"type": "RECORD", "record": {"stream": "s", "data": {"email": "a@b.c"}, "emitted_at": 0}}).encode()

lines = st.one_of(
    st.just(RECORD),
    st.binary(max_size=40).filter(lambda line: b"\n" not in line),
    st.text(max_size=40).filter(lambda line: "\n" not in line).map(str.encode),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(lambda d: json.dumps(d).encode()),
)


@given(st.lists(lines, max_size=30))
def test_every_line_with_content_comes_out_once_in_order_and_never_raises(given_lines: list[bytes]) -> None:
    out = list(read_messages(given_lines))

    with_content = [number for number, line in enumerate(given_lines, start=1) if line.strip()]
    assert len(out) == len(with_content)
    for number, item in zip(with_content, out):
        if isinstance(item, UnreadableLine):
            assert item.line_number == number and item.reason.startswith(f"input line {number} is ")
        else:
            assert item.type is not None and (item.type.name != "RECORD" or item.record is not None)


def test_a_line_is_never_quoted_in_its_reason() -> None:
    (unreadable,) = read_messages([b"secret-token-value not json"])
    assert isinstance(unreadable, UnreadableLine) and "secret" not in unreadable.reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
plain_records = st.fixed_dictionaries(
    {"stream": st.text(max_size=4), "data": st.dictionaries(st.text(max_size=4), json_values, max_size=3),
     "emitted_at": st.integers()},
    optional={"namespace": st.none() | st.text(max_size=4)},
)


def _changed(record: dict[str, object], key: str, value: object, drop: bool) -> dict[str, object]:
    changed = {k: v for k, v in record.items() if k != key}
    if not drop:
        changed[key] = value
    return changed


# A plain record with one field set to any JSON value (a bool emitted_at, a meta object...) or left out.
records_one_change_away = st.builds(
    _changed, plain_records, st.sampled_from(["stream", "data", "emitted_at", "namespace", "meta", "other"]),
    st.sampled_from([True, False, 0, 1.5, "5", None, [], {}, {"changes": []}]) | json_values, st.booleans(),
)
message_objects = st.builds(
    _changed, st.fixed_dictionaries({"type": st.just("RECORD"), "record": plain_records | records_one_change_away}),
    st.sampled_from(["type", "record", "state", "log"]), json_values | st.just("RECORD"), st.booleans(),
) | st.fixed_dictionaries({"type": st.just("RECORD"), "record": plain_records | records_one_change_away})


def _record(**fields: object) -> dict[str, object]:
    return {"type": "RECORD", "record": {"stream": "s", "data": {"a": 1}, "emitted_at": 0, **fields}}


@settings(max_examples=300)
@given(st.lists(message_objects, max_size=5))
@example([_record(emitted_at=True), _record(emitted_at=1.0), _record(namespace=1), _record(meta={"changes": []})])
def test_the_fast_path_for_records_reads_every_line_as_the_cdk_serializer_does(objects: list[object]) -> None:
    given_lines = [json.dumps(obj).encode() for obj in objects]
    fast = list(read_messages(given_lines))
    with patch("destination_listmonk.input_messages._plain_record", return_value=None):
        through_the_serializer = list(read_messages(given_lines))

    assert fast == through_the_serializer
