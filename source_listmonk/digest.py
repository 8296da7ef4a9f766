"""Digests of subscription statuses per range of subscriber ids: catching changes listmonk leaves no timestamp on.

Re-subscribing through `PUT /api/subscribers/lists` (add + confirmed) flips `unsubscribed` to `confirmed`
without moving any timestamp. So each incremental read of `subscriptions` checks every subscriber and
keeps, per range of RANGE_SIZE ids, the sum (mod 2**64) of a hash of every (subscriber id, list id, status)
in it. State stays one number per range.

The hash (kind "md5") is one PostgreSQL computes exactly (see server_digest.py), so with `sql_query` listmonk
itself tells which ranges' digests changed. Digests saved before were blake2b ("blake2b"): a state holding
them is compared in that kind once, while its read stores the new kind.

A range whose digest changed is explained when some old status (or absence) of its *touched* rows (those
whose subscription timestamps moved past the cutoff) reproduces the old digest: every change in it is then
on a timestamped row, which is emitted anyway. Otherwise the change is silent (or a row was deleted) and
the whole range is emitted. Because the digest is a sum, this check tries at most 4**len(touched)
combinations, so it is only tried for a few touched rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

RANGE_SIZE = 1000
STATUSES = ("unconfirmed", "confirmed", "unsubscribed")
# 4**8 = 65,536 sums at most per changed range; more touched rows just emit the range.
MAX_EXPLAINED_ROWS = 8
_MOD = 1 << 64
# Digest kinds, as saved in the state: the row hash each digest sums.
CURRENT_KIND = "md5"
LEGACY_KIND = "blake2b"


@dataclass(frozen=True)
class RangeRow:
    """One subscription row as read now, with what its timestamps say about it."""

    record: dict[str, Any]
    subscriber_id: int
    list_id: int
    status: str
    touched: bool  # its subscription was created or updated after the cutoff: old status unknown
    moved: bool  # something it shows (subscription, subscriber or list) changed after the cutoff


def range_of(subscriber_id: int) -> int:
    return subscriber_id // RANGE_SIZE


def range_end(range_index: int) -> int:
    """The last subscriber id in the range."""
    return (range_index + 1) * RANGE_SIZE - 1


def row_hash(subscriber_id: int, list_id: int, status: str, kind: str = CURRENT_KIND) -> int:
    if kind == LEGACY_KIND:
        data = f"{subscriber_id}:{list_id}:{status}".encode()
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")
    # The first 8 bytes of the md5: PostgreSQL reads them as a signed bigint, which is the same number mod 2**64.
    data = f"{subscriber_id},{list_id},{status}".encode()
    return int.from_bytes(hashlib.md5(data, usedforsecurity=False).digest()[:8], "big")


def range_digest(rows: Iterable[tuple[int, int, str]], kind: str = CURRENT_KIND) -> int:
    return sum(row_hash(*row, kind) for row in rows) % _MOD


def encode(digest: int) -> str:
    return f"{digest:016x}"


def decode(text: str) -> int:
    return int(text, 16)


def explained(
    old_digest: int, settled_digest: int, touched: Sequence[tuple[int, int]], kind: str = CURRENT_KIND
) -> bool:
    """Whether some old state of the touched rows (absent or any status), plus the settled rows, gives old_digest."""
    if len(touched) > MAX_EXPLAINED_ROWS:
        return False
    sums = {settled_digest}
    for subscriber_id, list_id in touched:
        options = [0] + [row_hash(subscriber_id, list_id, status, kind) for status in STATUSES]
        sums = {(total + option) % _MOD for total in sums for option in options}
    return old_digest in sums


def nothing_to_emit(old_digest: int | None, new_digest: int, any_moved: bool) -> bool:
    """Whether `rows_to_emit` would emit nothing, known without building the rows: no row moved, and the
    digest is unchanged (or there is no baseline to compare it with)."""
    return not any_moved and (old_digest is None or old_digest == new_digest)


def rows_to_emit(
    rows: Sequence[RangeRow], old_digest: int | None, kind: str = CURRENT_KIND
) -> tuple[list[dict[str, Any]], int]:
    """(records to emit, new digest in `kind`) for one completed range; old_digest None means no baseline yet."""
    new_digest = range_digest(((row.subscriber_id, row.list_id, row.status) for row in rows), kind)
    moved = [row.record for row in rows if row.moved]
    if old_digest is None or old_digest == new_digest:
        return moved, new_digest
    settled = range_digest(((row.subscriber_id, row.list_id, row.status) for row in rows if not row.touched), kind)
    touched = [(row.subscriber_id, row.list_id) for row in rows if row.touched]
    if explained(old_digest, settled, touched, kind):
        return moved, new_digest
    return [row.record for row in rows], new_digest
