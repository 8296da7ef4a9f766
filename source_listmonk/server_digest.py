"""Range digests computed by listmonk's PostgreSQL, through the `query` parameter (needs `subscribers:sql_query`).

`query` can only select subscribers, so the question "which ranges' digests differ from these?" is asked as
"the lowest subscriber with a subscription in each such range": one row per changed (or new) range, however
many subscribers the ranges hold. The SQL computes digest.row_hash's "md5" kind exactly: the first 16 hex
digits of md5('subscriber id,list id,status') as a signed bigint, summed (into numeric: no overflow) and taken
mod 2**64. Every value spliced in is an integer formatted here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Optional

from listmonk_client.client import ListmonkClient
from listmonk_client.sql import SqlExpr, quote_literal

from source_listmonk.digest import RANGE_SIZE, range_of
from source_listmonk.paging import subscribers_where
from source_listmonk.timestamps import format_ts

_MOD = 1 << 64
RANGE_SQL = f"(sl.subscriber_id / {RANGE_SIZE})"
ROW_HASH_SQL = (
    "('x' || substr(md5(sl.subscriber_id::text || ',' || sl.list_id::text || ',' || sl.status::text), 1, 16))"
    "::bit(64)::bigint"
)
# mod() of a negative sum is negative: add the modulus once more to land in [0, 2**64), as Python's `%` does.
DIGEST_SQL = f"mod(mod(sum({ROW_HASH_SQL}), {_MOD}) + {_MOD}, {_MOD})"


def changed_ranges_expr(low_id: int, high_id: Optional[int], known: Mapping[int, int]) -> SqlExpr:
    """Subscribers that are the lowest with a subscription in a range of ids in (low_id, high_id] whose digest
    is not `known[range]` (a range not in `known` counts as changed); high_id None: no upper bound."""
    bounds = f"sl.subscriber_id > {int(low_id)}"
    if high_id is not None:
        bounds += f" AND sl.subscriber_id <= {int(high_id)}"
    having = ""
    if known:
        values = ", ".join(f"({int(index)}, {int(value)})" for index, value in sorted(known.items()))
        having = f" HAVING ({RANGE_SQL}, {DIGEST_SQL}) NOT IN (VALUES {values})"
    return SqlExpr(
        f"subscribers.id IN (SELECT min(sl.subscriber_id) FROM subscriber_lists sl WHERE {bounds} "
        f"GROUP BY {RANGE_SQL}{having})"
    )


def changed_ranges(client: ListmonkClient, low_id: int, high_id: Optional[int], known: Mapping[int, int]) -> set[int]:
    """The ranges in (low_id, high_id] whose subscriptions' digest differs from `known`, in one request."""
    rows = subscribers_where(client, changed_ranges_expr(low_id, high_id, known), per_page="all")
    return {range_of(int(row["id"])) for row in rows}


def in_ranges_or_moved(ranges: set[int], cutoff: Optional[datetime]) -> SqlExpr:
    """Subscribers in one of `ranges`, or with a row of `subscriptions` that moved after `cutoff` (the subscriber,
    one of its subscriptions or one of its lists changed: what records.subscription_rows calls moved)."""
    moved = _moved_after(cutoff)
    if not ranges:
        return moved
    listed = ", ".join(str(int(index)) for index in sorted(ranges))
    return SqlExpr(f"(subscribers.id / {RANGE_SIZE}) IN ({listed})").or_(moved)


def _moved_after(cutoff: Optional[datetime]) -> SqlExpr:
    if cutoff is None:
        return SqlExpr("TRUE")
    moment = quote_literal(format_ts(cutoff))
    return SqlExpr(
        f"subscribers.updated_at > {moment} OR EXISTS (SELECT 1 FROM subscriber_lists sl JOIN lists l "
        f"ON l.id = sl.list_id WHERE sl.subscriber_id = subscribers.id AND (sl.created_at > {moment} "
        f"OR sl.updated_at > {moment} OR l.updated_at > {moment}))"
    )
