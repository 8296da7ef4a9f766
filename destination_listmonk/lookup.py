"""Finds the listmonk subscribers a batch of records refers to, in a few `query` calls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Optional, Sequence

from destination_listmonk import paths
from destination_listmonk.timings import Timings
from listmonk_client.client import ListmonkClient
from listmonk_client.models import SubscriberState
from listmonk_client.sql import SqlExpr, attrib_path_sql, email_in, values_in


class SubscriberLookup:
    def __init__(
        self, client: ListmonkClient, match_key: str, keys_per_call: int, concurrency: int = 1,
        timings: Optional[Timings] = None,
    ) -> None:
        self._client = client
        self._timings = timings or Timings()
        self._keys_per_call = keys_per_call
        self._concurrency = concurrency
        self._attrib_path: Optional[tuple[str, ...]] = None if match_key == "email" else paths.split(match_key)[1:]

    def key_of(self, subscriber: SubscriberState) -> Optional[str]:
        if self._attrib_path is None:
            return subscriber.email.lower()
        value = paths.get(subscriber.attribs or {}, self._attrib_path)
        if value is None or isinstance(value, (dict, list)) or str(value).strip() == "":
            return None
        return str(value).strip()

    def by_key(self, keys: Sequence[str]) -> dict[str, SubscriberState]:
        if self._attrib_path is None:
            return self.by_email(keys)
        found: dict[str, SubscriberState] = {}
        column = attrib_path_sql(self._attrib_path)
        for subscriber in self._find(sorted(set(keys)), lambda chunk: values_in(column, chunk)):
            key = self.key_of(subscriber)
            # Several subscribers sharing one key: the oldest is the match, deterministically.
            if key is not None and (key not in found or subscriber.id < found[key].id):
                found[key] = subscriber
        return found

    def by_email(self, emails: Sequence[str]) -> dict[str, SubscriberState]:
        return {s.email.lower(): s for s in self._find(sorted(set(emails)), email_in)}

    def _find(self, keys: Sequence[str], expression: Callable[[Sequence[str]], SqlExpr]) -> list[SubscriberState]:
        chunks = [keys[i:i + self._keys_per_call] for i in range(0, len(keys), self._keys_per_call)]
        with self._timings.span("lookup", len(chunks)):
            return list(self._calls(chunks, expression))

    def _calls(
        self, chunks: list[Sequence[str]], expression: Callable[[Sequence[str]], SqlExpr]
    ) -> Iterator[SubscriberState]:
        """One lookup call per chunk of keys, several in flight: each call's cost is mostly server round trip."""
        if len(chunks) <= 1 or self._concurrency == 1:
            for chunk in chunks:
                yield from self._client.find_subscribers(expression(chunk))
            return
        with ThreadPoolExecutor(max_workers=min(self._concurrency, len(chunks))) as pool:
            for found in pool.map(lambda chunk: self._client.find_subscribers(expression(chunk)), chunks):
                yield from found
