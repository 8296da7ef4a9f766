"""A Mapping that is no dict, for checking that the fast paths for plain dicts change no answer."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class ReadOnly(Mapping[str, Any]):
    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)
