"""Dotted paths into nested records and attribute objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_MISSING = object()
_SCALARS = (str, int, float, bool, type(None))


def split(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def get(data: Mapping[str, Any], path: Sequence[str], default: Any = None) -> Any:
    node: Any = data
    for key in path:
        if type(node) is dict:  # records are plain dicts: isinstance(node, Mapping), an ABC check, costs 3x more
            node = node.get(key, _MISSING)
            if node is _MISSING:
                return default
        elif isinstance(node, Mapping) and key in node:
            node = node[key]
        else:
            return default
    return node


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
    if isinstance(value, Mapping):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


def deep_merge(base: Mapping[str, Any], incoming: Mapping[str, Any]) -> dict[str, Any]:
    """Objects merge key by key at every depth; any other incoming value replaces the base value."""
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
