"""SQL for listmonk's `query` parameter: every value stays one literal, every expression is wrapped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from listmonk_client.sql import SqlExpr, attrib_path_sql, email_in, quote_literal, values_in

texts = st.text(alphabet=st.characters(exclude_characters="\x00"))
HOSTILE = ["'x'; DELETE FROM subscribers; --", "') OR (1=1", "o'brien@example.com", "\\'", "\\", "''", "{a,b}\""]


def read_literal(sql: str, start: int = 0) -> tuple[str, int]:
    """Decode the standard SQL string literal at sql[start]: its value and where it ends.

    This is how PostgreSQL (standard_conforming_strings on) tokenises '...': only a doubled
    quote stands for a quote, and the first single quote ends the token.
    """
    if sql[start : start + 1] != "'":
        raise ValueError(f"no literal at {start}: {sql!r}")
    value, i = [], start + 1
    while i < len(sql):
        if sql[i] == "'":
            if sql[i + 1 : i + 2] == "'":
                value.append("'")
                i += 2
                continue
            return "".join(value), i + 1
        value.append(sql[i])
        i += 1
    raise ValueError(f"unterminated literal: {sql!r}")


def read_in_list(sql: str, prefix: str) -> list[str]:
    """Decode `prefix IN ('a', 'b')`, insisting nothing else is in the text."""
    head = f"{prefix} IN ("
    assert sql.startswith(head)
    values, i = [], len(head)
    while True:
        value, i = read_literal(sql, i)
        values.append(value)
        if sql[i:] == ")":
            return values
        assert sql[i : i + 2] == ", "
        i += 2


@given(texts)
def test_any_text_is_one_literal_token_that_decodes_to_itself(value: str) -> None:
    quoted = quote_literal(value)
    assert read_literal(quoted) == (value, len(quoted))


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_text_stays_inside_its_literal(value: str) -> None:
    quoted = quote_literal(value)
    assert read_literal(quoted) == (value, len(quoted))


@given(texts, texts)
def test_nul_bytes_are_rejected_wherever_they_are(before: str, after: str) -> None:
    with pytest.raises(ValueError):
        quote_literal(before + "\x00" + after)


def test_only_strings_can_become_literals() -> None:
    with pytest.raises(TypeError):
        quote_literal(42)  # type: ignore[arg-type]


@given(st.lists(texts, min_size=1))
def test_values_in_holds_exactly_the_distinct_values(values: list[str]) -> None:
    expr = values_in("subscribers.attribs->>'crm_id'", values)
    assert read_in_list(expr.sql, "subscribers.attribs->>'crm_id'") == list(dict.fromkeys(values))


def test_an_empty_value_set_matches_nothing_instead_of_breaking_the_sql() -> None:
    assert values_in("subscribers.email", []).sql == "FALSE"
    assert email_in([]).wrapped() == "(FALSE)"


def test_emails_are_compared_lowercased_and_trimmed_like_listmonk_stores_them() -> None:
    expr = email_in(["  Ann@Example.com ", "ann@example.com", "O'Brien@example.com"])
    assert expr.sql == "LOWER(subscribers.email) IN ('ann@example.com', 'o''brien@example.com')"


def test_a_top_level_attribute_reads_as_text() -> None:
    assert attrib_path_sql(["crm_id"]) == "subscribers.attribs->>'crm_id'"


def test_a_nested_attribute_walks_objects_then_reads_the_leaf_as_text() -> None:
    assert attrib_path_sql(["plan", "tier"]) == "subscribers.attribs->'plan'->>'tier'"


@given(st.lists(texts, min_size=1, max_size=5))
def test_any_attribute_path_keeps_every_key_in_its_own_literal(path: list[str]) -> None:
    sql = attrib_path_sql(path)
    keys, i = [], len("subscribers.attribs")
    assert sql.startswith("subscribers.attribs")
    while i < len(sql):
        arrow = "->>" if sql.startswith("->>", i) else "->"
        assert sql.startswith(arrow, i)
        key, i = read_literal(sql, i + len(arrow))
        keys.append(key)
        assert (arrow == "->>") == (i == len(sql))
    assert keys == path


@pytest.mark.parametrize("path", [[], "crm_id"])
def test_an_empty_or_bare_string_path_is_rejected(path: list[str] | str) -> None:
    with pytest.raises(ValueError):
        attrib_path_sql(path)  # type: ignore[arg-type]


def test_expressions_are_combined_inside_parentheses() -> None:
    combined = SqlExpr("a = 1 OR b = 2").and_(SqlExpr("c = 3"))
    assert combined.wrapped() == "((a = 1 OR b = 2) AND (c = 3))"
    either = SqlExpr("a = 1 AND b = 2").or_(SqlExpr("c = 3"))
    assert either.wrapped() == "((a = 1 AND b = 2) OR (c = 3))"
