"""Consent changes made behind a client's back (the `consent_change` fault): the same statements as listmonk's
blocklist route and bulk `unsubscribe` action, by email."""
from __future__ import annotations

from listmonk_emulator.db import Database
from listmonk_emulator.faults import ConsentChange

_SQL = {
    "blocklist": """WITH ids AS (SELECT id FROM subscribers WHERE LOWER(email) = ANY(%(emails)s)),
                         b AS (UPDATE subscribers SET status = 'blocklisted', updated_at = NOW()
                               WHERE id IN (SELECT id FROM ids))
                    UPDATE subscriber_lists SET status = 'unsubscribed', updated_at = NOW()
                    WHERE subscriber_id IN (SELECT id FROM ids)""",
    "unsubscribe": """UPDATE subscriber_lists SET status = 'unsubscribed', updated_at = NOW()
                      WHERE list_id = ANY(%(lists)s)
                        AND subscriber_id IN (SELECT id FROM subscribers WHERE LOWER(email) = ANY(%(emails)s))""",
}


def apply(db: Database, change: ConsentChange) -> None:
    with db.pool.connection() as conn:
        conn.execute(_SQL[change.action], {"emails": list(change.emails), "lists": list(change.list_ids)})
        conn.commit()
