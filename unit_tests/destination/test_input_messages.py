"""Reading stdin: every non-blank line is either an Airbyte message or an UnreadableLine naming its number."""

from __future__ import annotations

import json

from hypothesis import given
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
