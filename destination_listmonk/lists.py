"""Resolves list references (IDs or exact names) against the lists that exist in listmonk."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Union

from listmonk_client.models import MailingList

ListRef = Union[int, str]


class ListResolutionError(ValueError):
    pass


class ListDirectory:
    def __init__(self, lists: Iterable[MailingList]) -> None:
        self._ids: set[int] = set()
        self._by_name: dict[str, list[int]] = defaultdict(list)
        for mailing_list in lists:
            self._ids.add(mailing_list.id)
            self._by_name[mailing_list.name].append(mailing_list.id)

    def resolve(self, ref: ListRef) -> int:
        """An int, or a string of digits, is a list ID; any other string is an exact list name.
        listmonk allows duplicate names, so a name shared by several lists is refused rather than guessed."""
        if isinstance(ref, bool):
            raise ListResolutionError(f"{ref!r} is not a list ID or name")
        if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
            list_id = int(ref)
            if list_id not in self._ids:
                raise ListResolutionError(f"list ID {list_id} does not exist in listmonk")
            return list_id
        if not isinstance(ref, str) or not ref.strip():
            raise ListResolutionError(f"{ref!r} is not a list ID or name")
        ids = self._by_name.get(ref.strip(), [])
        if not ids:
            raise ListResolutionError(f"no list named '{ref.strip()}' exists in listmonk")
        if len(ids) > 1:
            raise ListResolutionError(
                f"several lists are named '{ref.strip()}' (IDs {', '.join(map(str, sorted(ids)))}); use the list ID"
            )
        return ids[0]
