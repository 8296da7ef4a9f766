"""Safe building blocks for listmonk's `query` parameter.

listmonk splices `query` verbatim into its WHERE clause, so every value must be a
properly quoted literal and every expression must be parenthesised (an unwrapped
`OR` escapes the list filters). Literals use the standard form with `'` doubled:
PostgreSQL runs with standard_conforming_strings on, where backslash is an
ordinary character inside '...'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SqlExpr:
    """A boolean SQL expression built by this module, never a raw user string."""

    sql: str

    def wrapped(self) -> str:
        return f"({self.sql})"

    def and_(self, other: SqlExpr) -> SqlExpr:
        return SqlExpr(f"{self.wrapped()} AND {other.wrapped()}")

    def or_(self, other: SqlExpr) -> SqlExpr:
        return SqlExpr(f"{self.wrapped()} OR {other.wrapped()}")


# `x IN ()` is a syntax error; an empty set matches nothing.
MATCH_NOTHING = SqlExpr("FALSE")


def quote_literal(value: str) -> str:
    """`value` as one SQL string literal token."""
    if not isinstance(value, str):
        raise TypeError(f"SQL literal must be a str, got {type(value).__name__}")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; the server would reject the whole query.
        raise ValueError("SQL literal cannot contain a NUL character")
    return "'" + value.replace("'", "''") + "'"


def attrib_path_sql(path: Sequence[str]) -> str:
    """Text value of a (possibly nested) subscriber attribute: ["a", "b"] -> attribs->'a'->>'b'."""
    if isinstance(path, str) or not path:
        raise ValueError("attribute path must be a non-empty sequence of keys")
    *parents, leaf = (quote_literal(key) for key in path)
    chain = "".join(f"->{key}" for key in parents)
    return f"subscribers.attribs{chain}->>{leaf}"


def values_in(column_sql: str, values: Iterable[str]) -> SqlExpr:
    """`column_sql IN (...)`; `column_sql` must come from this module or be a fixed column name."""
    literals = list(dict.fromkeys(quote_literal(value) for value in values))
    if not literals:
        return MATCH_NOTHING
    return SqlExpr(f"{column_sql} IN ({', '.join(literals)})")


def email_in(emails: Iterable[str]) -> SqlExpr:
    """Subscribers whose email is one of `emails`; listmonk stores emails trimmed and lowercased."""
    return values_in("LOWER(subscribers.email)", (email.strip().lower() for email in emails))
