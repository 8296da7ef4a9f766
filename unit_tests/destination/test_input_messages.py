"""Reading stdin: every non-blank line is either an Airbyte message or an UnreadableLine naming its number; staging
straight from the lines gives what staging the messages read gives."""

from __future__ import annotations

import json
from unittest.mock import patch

from hypothesis import example, given, settings
from hypothesis import strategies as st
from airbyte_cdk.models import (
    AirbyteMessage, AirbyteMessageSerializer, AirbyteStream, ConfiguredAirbyteCatalog, ConfiguredAirbyteStream,
    DestinationSyncMode, SyncMode,
)

from destination_listmonk.activation import Routes, stream_settings
from destination_listmonk.config import DestinationConfig
from destination_listmonk.input_messages import UnreadableLine, read_messages
from destination_listmonk.lists import ListDirectory
from destination_listmonk.protection import Rules
from destination_listmonk.staging import stage, stage_lines

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


def _routes() -> Routes:
    config = DestinationConfig.model_validate({"url": "http://listmonk.invalid", "username": "u", "token": "t"})
    catalog = ConfiguredAirbyteCatalog(streams=[ConfiguredAirbyteStream(
        stream=AirbyteStream(name=name, json_schema={}, supported_sync_modes=[SyncMode.full_refresh]),
        sync_mode=SyncMode.full_refresh, destination_sync_mode=DestinationSyncMode.append) for name in ("s", "")])
    config, streams = stream_settings(config, catalog)
    return Routes(config, streams, ListDirectory([]), Rules.from_config(config, [], supports_patch=True))


_STAGE_ROUTES = _routes()
_STATE = {"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "s"},
                                                                   "stream_state": {}}}}


@settings(max_examples=300)
@given(st.lists(message_objects | st.just(_STATE) | st.fixed_dictionaries({"type": st.just("RECORD"), "record": (
    plain_records.map(lambda r: {**r, "data": {**r["data"], "email": "a@example.com"}}))}), max_size=6),
    st.lists(st.sampled_from([b"", b"  ", b"not json", b"\xff"]), max_size=2))
@example([_record(emitted_at=True), _STATE, _record(data={"email": "a@example.com"})], [b""])
def test_staging_from_lines_stages_every_line_as_reading_the_messages_first_does(
    objects: list[object], odd_lines: list[bytes]
) -> None:
    given_lines = [json.dumps(obj).encode() for obj in objects] + odd_lines
    by_lines = list(stage_lines(given_lines, _STAGE_ROUTES))
    by_messages = list(stage(read_messages(given_lines), _STAGE_ROUTES))

    assert [AirbyteMessageSerializer.dump(i) if isinstance(i, AirbyteMessage) else i for i in by_lines] == [
        AirbyteMessageSerializer.dump(i) if isinstance(i, AirbyteMessage) else i for i in by_messages]
