"""Finds the listmonk subscribers a batch of records refers to, in a few `query` calls."""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from destination_listmonk import paths
from listmonk_client.client import ListmonkClient
from listmonk_client.models import Subscriber
from listmonk_client.sql import attrib_path_sql, email_in, values_in

# Keys per lookup call: keeps the GET request line well under common 64 KiB server limits.
KEYS_PER_CALL = 250


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


class SubscriberLookup:
    def __init__(self, client: ListmonkClient, match_key: str) -> None:
        self._client = client
        self._attrib_path: Optional[tuple[str, ...]] = None if match_key == "email" else paths.split(match_key)[1:]

    def key_of(self, subscriber: Subscriber) -> Optional[str]:
        if self._attrib_path is None:
            return subscriber.email.lower()
        value = paths.get(subscriber.attribs or {}, self._attrib_path)
        if value is None or isinstance(value, (dict, list)) or str(value).strip() == "":
            return None
        return str(value).strip()

    def by_key(self, keys: Sequence[str]) -> dict[str, Subscriber]:
        if self._attrib_path is None:
            return self.by_email(keys)
        found: dict[str, Subscriber] = {}
        column = attrib_path_sql(self._attrib_path)
        for chunk in _chunks(sorted(set(keys)), KEYS_PER_CALL):
            for subscriber in self._client.find_subscribers(values_in(column, chunk)):
                key = self.key_of(subscriber)
                # Several subscribers sharing one key: the oldest is the match, deterministically.
                if key is not None and (key not in found or subscriber.id < found[key].id):
                    found[key] = subscriber
        return found

    def by_email(self, emails: Sequence[str]) -> dict[str, Subscriber]:
        found: dict[str, Subscriber] = {}
        for chunk in _chunks(sorted(set(emails)), KEYS_PER_CALL):
            for subscriber in self._client.find_subscribers(email_in(chunk)):
                found[subscriber.email.lower()] = subscriber
        return found
