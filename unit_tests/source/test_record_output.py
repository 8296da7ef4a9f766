"""A RECORD message written by the source's entrypoint is the very line the CDK would have printed for it."""

from __future__ import annotations

from typing import Any

from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteMessage, AirbyteRecordMessage, Type
from hypothesis import given
from hypothesis import strategies as s

from source_listmonk.entrypoint import record_line

_INT64 = s.integers(min_value=-(2**63), max_value=2**63 - 1)
_SCALARS = s.none() | s.booleans() | _INT64 | s.floats(allow_nan=False) | s.text()
_JSON = s.recursive(_SCALARS, lambda inner: s.lists(inner, max_size=4) | s.dictionaries(s.text(max_size=8), inner, max_size=4), max_leaves=20)
_DATA = s.dictionaries(s.text(max_size=12), _JSON, max_size=8)


def _message(data: dict[str, Any], **extra: Any) -> AirbyteMessage:
    return AirbyteMessage(type=Type.RECORD, record=AirbyteRecordMessage(stream="subscribers", data=data, emitted_at=1796000000123, **extra))


def _cdk_line(message: AirbyteMessage) -> str:
    return f"{AirbyteEntrypoint.airbyte_message_to_string(message)}\n"


@given(_DATA)
def test_a_record_is_written_as_the_cdk_writes_it(data: dict[str, Any]) -> None:
    # Top-level None values (which the CDK leaves out), nested ones (which it keeps), any text, floats, int64.
    message = _message(data)
    assert record_line(message) == _cdk_line(message)


def test_a_subscriber_with_nulls_and_unicode_is_written_as_the_cdk_writes_it() -> None:
    data = {"id": 7, "uuid": None, "email": "zoë@example.com", "name": "Zoë 🌍 \u2028", "status": "enabled",
            "attribs": {"city": None, "tags": ["a", None], "n": 1.5e300, "deep": {"x": [{"y": None}]}}, "lists": []}
    message = _message(data)
    assert record_line(message) == _cdk_line(message)
    assert '"uuid"' not in _cdk_line(message) and '"city":null' in _cdk_line(message)


def test_what_orjson_refuses_is_left_to_the_cdk() -> None:
    assert record_line(_message({"crm_id": 2**64})) is None
    assert record_line(_message({"id": 1}, namespace="listmonk")) is None
