"""Hypothesis-generated records through a real sync: each is written as given or rejected with a reason, and the
summary counts every record once."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration_tests import figures
from integration_tests.destination.harness import config, with_states, write
from listmonk_client.client import ListmonkClient
from listmonk_client.sql import SqlExpr, quote_literal
from listmonk_emulator.gojson import go_values


LOCAL = st.sampled_from(["ann", "bob", "o'neil", "zoë", "x.y+tag", "first_last"])
HOST = st.sampled_from(["", "bücher.", "例え.", "xn--bcher-kva."])  # IDN sub-domains of the run's own domain
NAME = st.one_of(
    st.none(), st.integers(), st.lists(st.integers(), max_size=2),
    st.text(max_size=40),  # any Unicode, NUL and lone surrogates excluded below
    st.sampled_from(["שלום עולם", "مرحبا", "🎉🚀 Party", "  padded  ", "Nul\x00Byte", "a" * 5000]),
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20),
              st.floats(allow_nan=False, allow_infinity=False, width=32)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)),
    max_leaves=12,
)
DEEP = st.integers(1, 60).map(lambda depth: _nested(depth))
HUGE = st.integers(1, 3).map(lambda n: {f"k{i}": "x" * 20_000 for i in range(n)})


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": depth}
    for level in range(depth):
        value = {f"l{level}": value}
    return value


def _surrogate_free(value: Any) -> bool:
    """Text an Airbyte record can carry (JSON from a source is valid UTF-8: no lone surrogates)."""
    if isinstance(value, str):
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return all(_surrogate_free(k) and _surrogate_free(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_surrogate_free(v) for v in value)
    return True


@st.composite
def record(draw: st.DrawFn, domain: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(["ok", "ok", "ok", "case", "missing", "odd", "wrong-type"]))
    local = draw(LOCAL)
    email: Any = f"{local}@{draw(HOST)}{domain}"
    if kind == "case":
        email = f"  {email.upper()} \t"
    elif kind == "odd":
        email = draw(st.sampled_from([f"{local}@", f"@{domain}", f"{local} {local}@{domain}", "", "   ",
                                      f"{local}@@{domain}", f"Name <{local}@{domain}>", f"{local}\x00@{domain}"]))
    elif kind == "wrong-type":
        email = draw(st.one_of(st.integers(), st.lists(st.text(max_size=3), max_size=2), st.booleans()))
    data: dict[str, Any] = {} if kind == "missing" else {"email": email}
    name = draw(NAME)
    if name is not None:
        data["name"] = name
    extra = draw(st.dictionaries(st.sampled_from(["plan", "score", "tags", "nested", "Plan"]), JSON, max_size=3))
    data.update(extra)
    if draw(st.booleans()):
        data["profile"] = draw(st.one_of(DEEP, HUGE))
    return data


def _merged(held: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """`deep_merge` with null_values `skip`: objects merge key by key, a null leaves the value, anything else
    replaces it."""
    result = dict(held)
    for key, value in incoming.items():
        if value is None:
            continue
        if isinstance(value, dict):
            result[key] = _merged(result[key] if isinstance(result.get(key), dict) else {}, value)
        else:
            result[key] = value
    return result


def _held(client: ListmonkClient, domain: str) -> dict[str, Any]:
    expr = SqlExpr(f"subscribers.email LIKE {quote_literal('%' + domain)}")
    return {s.email: s for s in client.iter_subscribers(query=expr, per_page=1000)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_given_generated_records_then_each_is_written_as_given_or_rejected_with_a_reason(
    listmonk: Any, client: ListmonkClient, data: st.DataObject
) -> None:
    domain = f"f{uuid.uuid4().hex[:10]}.example.com"
    records = [r for r in data.draw(st.lists(record(domain), min_size=1, max_size=12)) if _surrogate_free(r)]
    figures.count("records fuzzed", len(records))
    run = write(config(listmonk, advanced={"batch_size": 5}), with_states(records, every=5))

    counts = run.summary
    assert counts["records"] == len(records) == sum(
        counts[k] for k in ("created", "updated", "unchanged", "deleted", "rejected", "duplicates", "skipped"))
    rejected = {e["record"]: e["reason"] for e in run.events("rejected_record")}
    assert all(reason for reason in rejected.values())
    superseded = {e["superseded_record"] for e in run.events("duplicate_key")}
    held = _held(client, domain)
    expected: dict[str, tuple[str, dict[str, Any]]] = {}  # email -> name, attributes
    for position, data_ in enumerate(records, start=1):
        if position in rejected or position in superseded:
            continue
        email = data_["email"].strip().lower()
        name, attribs = expected.get(email, ("", {}))
        given = data_.get("name")
        if given is not None and str(given).strip():  # a number or a boolean is a name written as text
            name = str(given).strip()
        # attribute_merge `deep_merge`: a later batch's record merges into what the earlier one wrote.
        expected[email] = (name, _merged(attribs, {k: v for k, v in data_.items() if k not in ("email", "name")}))
    assert sorted(held) == sorted(expected)  # nothing else written, nothing missing
    for email, (name, attribs) in expected.items():
        # As listmonk gives numbers back: Go float64s (6.196429204330906e+16 as 61964292043309060, 2**53 + 1 as 2**53).
        assert held[email].attribs == go_values(attribs)
        if name:
            assert held[email].name == name
