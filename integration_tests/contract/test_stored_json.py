"""The emulator reads jsonb back as listmonk does (numbers as Go float64s), whichever decoder reads it."""
from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from listmonk_emulator.gojson import _go_int, loads_stored

_NUMBERS = st.one_of(
    st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([61964292043309060, 2**53 + 1, -(2**53 + 1), -(10**15), 10**21, 10**400, -0.0, 1e-7, 1e21]),
)
_VALUES = st.recursive(
    st.none() | st.booleans() | _NUMBERS | st.text() | st.from_regex(r"[0-9]{15,20}", fullmatch=True),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _typed(value: Any) -> Any:
    """`value` with each number's type kept, so 1 and 1.0 differ."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, value)


@given(_VALUES, st.booleans())
def test_given_any_stored_json_when_read_back_then_as_the_go_number_decoder_reads_it(value: Any, as_bytes: bool) -> None:
    text = json.dumps(value)
    stored = text.encode() if as_bytes else text
    assert _typed(loads_stored(stored)) == _typed(json.loads(text, parse_int=_go_int))
