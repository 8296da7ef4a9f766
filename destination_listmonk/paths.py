"""Paths into nested records and attribute objects.

Attribute keys and protected fields are plain dotted key paths (`split`). Record paths (`parse`) may also step into
arrays: `email.0.value` or `email[0].value` by position (`[-1]` is the last element), `email[primary=true].value`
to the first element that is an object holding that value under that key."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import orjson

_MISSING = object()
_SCALARS = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)  # exact types: anything else (a list, a subclass) takes the general path
_INDEX_RE = re.compile(r"-?[0-9]+")
_NUMBER_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_LITERALS = {"true": True, "false": False, "null": None}
_HOW = "dots for nesting, [0] for an array's first element, [primary=true] for its first element whose primary is true"


@dataclass(frozen=True)
class Where:
    """Steps into an array at its first element that is an object holding `value` under `key`."""

    key: str
    value: Union[str, int, float, bool, None]


Step = Union[str, int, Where]


class PathError(ValueError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"'{path}' is not a record path: {reason} ({_HOW})")


def split(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def parse(path: str) -> tuple[Step, ...]:
    """A record path's steps: keys (a key of digits also picks an array element by position), indexes and `Where`s."""
    steps: list[Step] = []
    pos, end = 0, len(path)
    while True:
        start = pos
        while pos < end and path[pos] not in ".[]":
            pos += 1
        key = path[start:pos]
        if not key:
            raise PathError(path, "the path is empty" if not path else f"a key is missing at character {start + 1}")
        if key[0].isspace():
            raise PathError(path, f"the key at character {start + 1} starts with a space")
        steps.append(key)
        while pos < end and path[pos] == "[":
            step, pos = _bracket(path, pos)
            steps.append(step)
        if pos == end:
            return tuple(steps)
        if path[pos] != ".":
            raise PathError(path, f"'{path[pos]}' at character {pos + 1} where '.', '[' or the end was expected")
        pos += 1


def _bracket(path: str, opening: int) -> tuple[Step, int]:
    """The step written in the brackets opening at `opening`, and the position after them."""
    pos, end = opening + 1, len(path)
    while pos < end and path[pos] not in "=[]":
        pos += 1
    if pos < end and path[pos] == "=":
        pos += 1
        while pos < end and path[pos] == " ":
            pos += 1
        if pos < end and path[pos] == '"':  # a quoted value may hold ] and [
            pos += 1
            while pos < end and path[pos] != '"':
                pos += 2 if path[pos] == "\\" else 1
            pos += 1
        while pos < end and path[pos] not in "[]":
            pos += 1
    if pos < end and path[pos] == "[":
        raise PathError(path, f"a '[' at character {pos + 1} inside the brackets opened at character {opening + 1}")
    if pos >= end:
        raise PathError(path, f"the '[' at character {opening + 1} is not closed by ']'")
    return _step(path, path[opening + 1:pos].strip()), pos + 1


def _step(path: str, inside: str) -> Step:
    if _INDEX_RE.fullmatch(inside):
        return int(inside)
    key, equals, raw = inside.partition("=")
    key, raw = key.strip(), raw.strip()
    if not equals:
        raise PathError(path, f"'[{inside}]' is neither an index such as [0] nor a condition such as [primary=true]")
    if not key:
        raise PathError(path, f"'[{inside}]' has no key before '='")
    if not raw:
        raise PathError(path, f"'[{inside}]' has no value after '=' (\"\" is the empty text)")
    return Where(key, _literal(path, raw))


def _literal(path: str, raw: str) -> Union[str, int, float, bool, None]:
    """A condition's value: true, false, null, a number, a "quoted" string, or else the text as it is."""
    if raw in _LITERALS:
        return _LITERALS[raw]
    if _NUMBER_RE.fullmatch(raw):
        return json.loads(raw)  # type: ignore[no-any-return]
    if raw.startswith('"'):
        try:
            value = json.loads(raw)
        except ValueError:
            raise PathError(path, f"{raw} is not a well-formed quoted value") from None
        if not isinstance(value, str):
            raise PathError(path, f"{raw} is not a well-formed quoted value")
        return value
    return raw


def get(data: Mapping[str, Any], path: Sequence[Step], default: Any = None) -> Any:
    node: Any = data
    for key in path:
        if type(node) is dict:  # records are plain dicts: isinstance(node, Mapping), an ABC check, costs 3x more
            node = node.get(key, _MISSING)
            if node is _MISSING:
                return default
        elif isinstance(node, list):
            node = _element(node, key)
            if node is _MISSING:
                return default
        elif isinstance(node, Mapping) and key in node:
            node = node[key]
        else:
            return default
    return node


def _element(items: list[Any], step: Step) -> Any:
    if type(step) is Where:
        for item in items:
            if isinstance(item, Mapping) and step.key in item and _same(item[step.key], step.value):
                return item
        return _MISSING
    if type(step) is str:
        if not (step.isascii() and step.isdigit()):
            return _MISSING
        step = int(step)
    if type(step) is int and -len(items) <= step < len(items):
        return items[step]
    return _MISSING


def _same(held: Any, wanted: Any) -> bool:
    """JSON equality: true is not 1 (Python's True == 1), 1 is 1.0."""
    if isinstance(held, bool) or isinstance(wanted, bool):
        return held is wanted
    return type(held) in _SCALARS and held == wanted


def has(data: Mapping[str, Any], path: Sequence[str]) -> bool:
    return get(data, path, _MISSING) is not _MISSING


def set_(data: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def delete(data: dict[str, Any], path: Sequence[str]) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return
    if isinstance(node, dict):
        node.pop(path[-1], None)


def copy_json(value: Any) -> Any:
    """A copy of a JSON value that shares nothing mutable (deepcopy's generality costs 5x on this hot path)."""
    if isinstance(value, _SCALARS):
        return value
    if type(value) is dict:
        for item in value.values():
            if type(item) not in _SCALAR_TYPES:
                break
        else:  # most attribute objects: flat, copied in one call
            return dict(value)
    if isinstance(value, Mapping):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


# listmonk (Go's encoding/json) holds every JSON number as a float64, and writes one back in its shortest form:
# 6.196429204330906e+16 comes back as 61964292043309060, 1.0 as 1, 2**60 + 1 as 1152921504606847000. Two numbers are
# alike to listmonk when their float64s are equal, which is when their canonical forms below are.
_EXACT = 2 ** 53


def canonical_numbers(value: Any) -> Any:
    """`value` with every number in one form per float64: integral ones within ±2**53 as ints, all others as floats
    (an int too large for a float64 stays as it is: listmonk refuses it). The other values are shared, not copied."""
    kind = type(value)
    if kind is int:
        if -_EXACT <= value <= _EXACT:
            return value
        try:
            value, kind = float(value), float  # which may round to 2**53, an int again below
        except OverflowError:
            return value
    if kind is float:
        return int(value) if value.is_integer() and -_EXACT <= value <= _EXACT else value
    if isinstance(value, Mapping):
        return {key: canonical_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [canonical_numbers(item) for item in value]
    return value


def _json_text(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):  # an integer beyond 64 bits
        return json.dumps(value, sort_keys=True, default=str).encode()


def same_json(held: Any, wanted: Any) -> bool:
    """Whether listmonk, holding `held`, holds `wanted` already: the same JSON once their numbers are canonical.
    Containers and mixed types are compared as JSON text, since Python's == takes true for 1 (and false for 0),
    which listmonk does not; two scalars of one type (most attributes, on the plan's path) need no text."""
    kind = type(held)
    if kind is type(wanted) and kind in _PLAIN_SCALARS:
        return held == wanted
    if held == wanted and (kind is type(wanted) and kind in _NUMBERS or _json_text(held) == _json_text(wanted)):
        return True
    return _json_text(canonical_numbers(held)) == _json_text(canonical_numbers(wanted))


_PLAIN_SCALARS = frozenset({str, bool, type(None)})  # equal exactly when == says so
_NUMBERS = frozenset({int, float})  # equal by == is equal for listmonk; unequal may still be (2**53 + 1, 2**53)


def deep_merge(base: Mapping[str, Any], incoming: Mapping[str, Any]) -> dict[str, Any]:
    """Objects merge key by key at every depth; any other incoming value replaces the base value."""
    if not base:  # a new subscriber's
        return copy_json(incoming)
    merged: dict[str, Any] = {}
    for key, held in base.items():
        if key not in incoming:
            merged[key] = copy_json(held)
        elif isinstance(held, Mapping) and isinstance(incoming[key], Mapping):
            merged[key] = deep_merge(held, incoming[key])
        else:
            merged[key] = copy_json(incoming[key])
    for key, value in incoming.items():
        if key not in base:
            merged[key] = copy_json(value)
    return merged


# Values drop_nulls keeps as they are: neither null nor a mapping to clean. Exact types, so that a subclass
# (a dict subclass is a Mapping) takes the general path.
_FLAT_TYPES = frozenset({str, int, float, bool, list})


def drop_nulls(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` without null values at any depth of its objects (arrays are kept as they are). May return `data`
    itself, when it is a dict with nothing to drop (the common case, and once per record on the snapshot's
    path): the result must be treated as read-only."""
    if type(data) is dict:
        for value in data.values():
            if type(value) not in _FLAT_TYPES:
                break
        else:
            return data
    return _without_nulls(data)


def _without_nulls(data: Mapping[str, Any]) -> dict[str, Any]:
    """drop_nulls as a new dict at every depth."""
    return {
        key: value if isinstance(value, _SCALARS) or not isinstance(value, Mapping) else _without_nulls(value)
        for key, value in data.items()
        if value is not None
    }


def strip_nested_nulls(data: Mapping[str, Any]) -> dict[str, Any]:
    """Removes null values below the top level. A top-level null stays: it is how listmonk's PATCH
    clears a top-level attribute (keys cannot be removed there). The dicts in the result are all new ones,
    which callers may change."""
    return {key: _without_nulls(value) if isinstance(value, Mapping) else value for key, value in data.items()}
