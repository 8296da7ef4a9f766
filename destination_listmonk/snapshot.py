"""A compact picture of every subscriber listmonk holds at the start of a sync, read once from its CSV export,
so records that are plainly new or plainly unchanged need no lookup call.

Per subscriber it keeps 16 bytes: a 64-bit hash of the email and a 64-bit fingerprint of the profile fields the
sync compares (16 MB for 1,000,000 subscribers). It only ever answers "certainly new", "certainly unchanged" or
"look it up": a hash collision, a record the picture cannot judge, or a subscriber this sync already wrote falls
back to the lookup, so the planner still sees listmonk's real state before anything is written.
"""

from __future__ import annotations

from array import array
from enum import Enum
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional

import orjson

from destination_listmonk import paths
from destination_listmonk.mapping import Desired
from listmonk_client.client import ListmonkClient

_FILTER_BITS = 1 << 27  # 16 MB: about 0.02% false positives at 1,000,000 written subscribers
# listmonk v6.2 exports about 111,000 rows/s and answers about 10,000 looked-up emails/s: reading the export of
# N subscribers costs about what looking up N/10 records does.
EXPORT_COST_IN_LOOKUPS = 10
# The picture of this many subscribers stays near 100 MB; beyond it the sync keeps looking records up.
AUTO_MAX_SUBSCRIBERS = 2_000_000


class Verdict(Enum):
    NEW = "new"
    UNCHANGED = "unchanged"
    LOOK_UP = "look_up"


_MASK64 = (1 << 64) - 1


def _hash64(value: str | bytes) -> int:
    # Python's own string hash: 64-bit keyed SipHash, and cached on the string. Seeded per process, which is
    # all it needs to be: the table never leaves the process.
    return hash(value) & _MASK64


def fingerprint(name: Optional[str], attribs: Mapping[str, Any], status: Optional[str]) -> Optional[int]:
    """A hash of the compared fields in a canonical JSON form; None where there is none (e.g. a non-text key).
    orjson writes NaN as null, but NaN reaches no sync: the Airbyte protocol (read with orjson) cannot carry it."""
    try:
        return _hash64(orjson.dumps([name, attribs, status], option=orjson.OPT_SORT_KEYS))
    except (orjson.JSONEncodeError, TypeError):
        return None


class WrittenFilter:
    """Remembers (approximately, in fixed memory) which emails this sync has written: their snapshot entry is stale."""

    def __init__(self) -> None:
        self._bits = bytearray(_FILTER_BITS // 8)

    def _positions(self, email_hash: int) -> tuple[int, int]:
        return email_hash % _FILTER_BITS, (email_hash >> 32) % _FILTER_BITS

    def add(self, email: str) -> None:
        for bit in self._positions(_hash64(email)):
            self._bits[bit >> 3] |= 1 << (bit & 7)

    def holds(self, email_hash: int) -> bool:
        return all(self._bits[bit >> 3] & (1 << (bit & 7)) for bit in self._positions(email_hash))


class _Table:
    """An open-addressing hash table of 64-bit keys to 64-bit values in two flat arrays: 16 bytes an entry at
    half load, with none of the per-object overhead a dict of 1,000,000 entries would cost."""

    _EMPTY = 0
    AMBIGUOUS = 0  # two emails collided, or the row was unreadable: look such records up

    def __init__(self, capacity: int = 1 << 16) -> None:
        self._keys = array("Q", bytes(8 * capacity))
        self._values = array("Q", bytes(8 * capacity))
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def _slot(self, key: int) -> int:
        mask = len(self._keys) - 1
        slot = key & mask
        while self._keys[slot] not in (self._EMPTY, key):
            slot = (slot + 1) & mask
        return slot

    def put(self, key: int, value: int) -> None:
        if 2 * (self._size + 1) > len(self._keys):
            self._grow()
        slot = self._slot(key)
        if self._keys[slot] == key:
            self._values[slot] = self.AMBIGUOUS
            return
        self._keys[slot] = key
        self._values[slot] = value
        self._size += 1

    def get(self, key: int) -> Optional[int]:
        slot = self._slot(key)
        return self._values[slot] if self._keys[slot] == key else None

    def _grow(self) -> None:
        keys, values = self._keys, self._values
        self._keys = array("Q", bytes(16 * len(keys)))
        self._values = array("Q", bytes(16 * len(values)))
        self._size = 0
        for key, value in zip(keys, values):
            if key != self._EMPTY:
                slot = self._slot(key)
                self._keys[slot], self._values[slot] = key, value
                self._size += 1


def _nonzero(key: int) -> int:
    # 0 marks an empty slot in the table.
    return key or 1


class Snapshot:
    def __init__(self, rows: Iterable[tuple[str, int]], compare_name: bool, compare_status: bool) -> None:
        self._table = _Table()
        for email, profile in rows:
            self._table.put(_nonzero(_hash64(email)), profile)
        self._compare_name = compare_name
        self._compare_status = compare_status
        self.written = WrittenFilter()

    @classmethod
    def from_export(cls, rows: Iterable[Mapping[str, str]], compare_name: bool, compare_status: bool) -> "Snapshot":
        """From rows shaped like listmonk's CSV export (email, name, attributes as JSON text, status)."""
        def pairs() -> Iterable[tuple[str, int]]:
            for row in rows:
                try:
                    attribs = orjson.loads(row.get("attributes") or "{}")
                except orjson.JSONDecodeError:
                    attribs = None
                email = row["email"].strip().lower()
                profile = fingerprint(
                    row.get("name") if compare_name else None, attribs, row.get("status") if compare_status else None
                ) if isinstance(attribs, dict) else None
                yield email, _Table.AMBIGUOUS if profile is None else profile  # unreadable: always looked up

        return cls(pairs(), compare_name, compare_status)

    @classmethod
    def load(cls, client: ListmonkClient, compare_name: bool, compare_status: bool) -> "Snapshot":
        return cls.from_export(client.export_subscribers(), compare_name, compare_status)

    def __len__(self) -> int:
        return len(self._table)

    def judge(self, desired: Desired) -> Verdict:
        email = desired.email
        if desired.deleted or email is None:
            return Verdict.LOOK_UP
        email_hash = _hash64(email)
        if self.written.holds(email_hash):
            return Verdict.LOOK_UP
        held = self._table.get(_nonzero(email_hash))
        if held is None:
            return Verdict.NEW
        if held == _Table.AMBIGUOUS:
            return Verdict.LOOK_UP
        if (self._compare_name and desired.name is None) or (self._compare_status and desired.status is None):
            return Verdict.LOOK_UP
        wanted = fingerprint(
            desired.name if self._compare_name else None,
            paths.drop_nulls(desired.attribs or {}),
            desired.status if self._compare_status else None,
        )
        return Verdict.UNCHANGED if wanted is not None and held == wanted else Verdict.LOOK_UP


class SnapshotPolicy:
    """When to read the export: `always` at once, `never`, or `auto` once the records seen so far (at least a
    full batch, so small syncs never pay) would cost more in lookups than the export of everyone listmonk holds."""

    def __init__(self, mode: str, min_records: int) -> None:
        self._mode = mode
        self._min_records = min_records
        self._held: Optional[int] = None

    def wanted(self, records_seen: int, count_held: Callable[[], int]) -> bool:
        if self._mode != "auto":
            return self._mode == "always"
        if records_seen < self._min_records:
            return False
        if self._held is None:
            self._held = count_held()
        return self._held <= AUTO_MAX_SUBSCRIBERS and records_seen * EXPORT_COST_IN_LOOKUPS >= self._held
