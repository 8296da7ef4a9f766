"""JSON decoding that fails with the exact texts Go's encoding/json gives listmonk, and numbers as listmonk keeps them.

listmonk returns the decoder's error verbatim (`unexpected EOF`, `invalid character 'n' looking
for beginning of object key string`, `Unmarshal type error: expected=[]int, got=string, ...`),
so a Python json error text would not match. This module scans the text the way Go's scanner
does and records where each top-level value sits, which Go reports as `offset`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Optional, Union

import orjson

_WS = " \t\n\r"


class GoSyntaxError(ValueError):
    """A malformed document; `eof` tells a truncated one apart from a bad character."""

    def __init__(self, message: str, eof: bool) -> None:
        super().__init__(message)
        self.eof = eof


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str  # Go's name of the JSON kind: string, number, bool, array, object, null
    items: tuple["Span", ...] = ()  # an array's elements


def _quote(ch: str) -> str:
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    return f"'{ch}'"


class _Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def _eof(self) -> GoSyntaxError:
        return GoSyntaxError("unexpected end of JSON input", eof=True)

    def _bad(self, context: str) -> GoSyntaxError:
        return GoSyntaxError(f"invalid character {_quote(self.s[self.i])} {context}", eof=False)

    def skip_ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in _WS:
            self.i += 1

    def peek(self) -> Optional[str]:
        return self.s[self.i] if self.i < len(self.s) else None

    def value(self, top_fields: Optional[dict[str, Span]] = None) -> Span:
        self.skip_ws()
        ch = self.peek()
        if ch is None:
            raise self._eof()
        start = self.i
        if ch == "{":
            self._object(top_fields)
            return Span(start, self.i, "object")
        if ch == "[":
            items = self._array()
            return Span(start, self.i, "array", items)
        if ch == '"':
            self._string()
            return Span(start, self.i, "string")
        if ch == "-" or ch.isdigit():
            self._number()
            return Span(start, self.i, "number")
        for word, kind in (("true", "bool"), ("false", "bool"), ("null", "null")):
            if ch == word[0]:
                self._literal(word)
                return Span(start, self.i, kind)
        raise self._bad("looking for beginning of value")

    def _object(self, fields: Optional[dict[str, Span]]) -> None:
        self.i += 1
        self.skip_ws()
        if self.peek() == "}":
            self.i += 1
            return
        while True:
            self.skip_ws()
            ch = self.peek()
            if ch is None:
                raise self._eof()
            if ch != '"':
                raise self._bad("looking for beginning of object key string")
            key_start = self.i
            self._string()
            key = json.loads(self.s[key_start:self.i])
            self.skip_ws()
            if self.peek() is None:
                raise self._eof()
            if self.peek() != ":":
                raise self._bad("after object key")
            self.i += 1
            span = self.value()
            if fields is not None:
                fields[key] = span
            self.skip_ws()
            ch = self.peek()
            if ch is None:
                raise self._eof()
            self.i += 1
            if ch == "}":
                return
            if ch != ",":
                self.i -= 1
                raise self._bad("after object key:value pair")

    def _array(self) -> tuple[Span, ...]:
        self.i += 1
        self.skip_ws()
        items: list[Span] = []
        if self.peek() == "]":
            self.i += 1
            return ()
        while True:
            items.append(self.value())
            self.skip_ws()
            ch = self.peek()
            if ch is None:
                raise self._eof()
            self.i += 1
            if ch == "]":
                return tuple(items)
            if ch != ",":
                self.i -= 1
                raise self._bad("after array element")

    def _string(self) -> None:
        self.i += 1
        while True:
            ch = self.peek()
            if ch is None:
                raise self._eof()
            if ch == '"':
                self.i += 1
                return
            if ch == "\\":
                self.i += 2
                continue
            if ord(ch) < 0x20:
                raise self._bad("in string literal")
            self.i += 1

    def _number(self) -> None:
        if self.peek() == "-":
            self.i += 1
        if self.peek() is None:
            raise self._eof()
        if not (self.peek() or "").isdigit():
            raise self._bad("in numeric literal")
        while (self.peek() or "") and (self.peek() or "") in "0123456789.eE+-":
            self.i += 1

    def _literal(self, word: str) -> None:
        for expected in word:
            ch = self.peek()
            if ch is None:
                raise self._eof()
            if ch != expected:
                raise self._bad(f"in literal {word} (expecting {_quote(expected)})")
            self.i += 1


def unmarshal(text: str) -> Any:
    """Like Go's json.Unmarshal: the whole text must be exactly one value."""
    scanner = _Scanner(text)
    scanner.value()
    scanner.skip_ws()
    if scanner.peek() is not None:
        raise scanner._bad("after top-level value")
    return json.loads(text)


def decode_object(text: str) -> tuple[Any, dict[str, Span]]:
    """Like Go's json.Decoder.Decode (used by echo's Bind): one value, trailing text ignored.

    Returns the value and, for an object, where each top-level field's value sits.
    """
    scanner = _Scanner(text)
    fields: dict[str, Span] = {}
    span = scanner.value(fields)
    return json.loads(text[span.start:span.end]), fields


def stream_error_text(err: GoSyntaxError) -> str:
    """json.Decoder reports a truncated document as `unexpected EOF`."""
    return "unexpected EOF" if err.eof else str(err)


def type_error(fields: dict[str, Span], expected: dict[str, str]) -> Optional[str]:
    """The first `Unmarshal type error` Go would raise for fields of the wrong JSON kind.

    `expected` maps a field name to its Go type name (e.g. "[]int", "string", "models.JSON").
    """
    accepts = {
        "string": {"string"},
        "bool": {"bool"},
        "int": {"number"},
        "[]int": {"array"},
        "[]string": {"array"},
        "models.JSON": {"object"},
    }
    for name, span in sorted(fields.items(), key=lambda item: item[1].start):
        go_type = expected.get(name)
        if go_type is None or span.kind == "null":
            continue
        if span.kind not in accepts[go_type]:
            return _type_message(go_type, span, name)
        if go_type.startswith("[]"):
            element_type = go_type[2:]
            for item in span.items:
                if item.kind != "null" and item.kind not in accepts[element_type]:
                    return _type_message(element_type, item, name)
    return None


def _type_message(go_type: str, span: Span, name: str) -> str:
    # Go stops inside a composite value right after its opening bracket.
    offset = span.start + 1 if span.kind in ("array", "object") else span.end
    return f"Unmarshal type error: expected={go_type}, got={span.kind}, field={name}, offset={offset}"


def go_number(value: Union[int, float]) -> Union[int, float]:
    """A JSON number as listmonk gives it back, read by Python: listmonk decodes attributes into Go float64s, and
    encoding/json writes one in its shortest digits, in 'f' notation where 1e-6 <= |x| < 1e21 (an integral one
    without a fraction: 6.196429204330906e+16 as 61964292043309060, 1.0 as 1, -0.0 as -0) and 'e' notation beyond.
    A number no float64 holds stays as it is (listmonk would refuse the request)."""
    try:
        number = float(value)
    except OverflowError:
        return value
    if number.is_integer() and abs(number) < 1e21:
        return int(Decimal(repr(number)))
    return number


def go_values(value: Any) -> Any:
    """A decoded JSON value with every number as listmonk gives it back (go_number)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return go_number(value)
    if isinstance(value, dict):
        return {key: go_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [go_values(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """JSON text of a value as listmonk stores it (attributes): its numbers as Go writes float64s. PostgreSQL then
    holds them as numerics, whose text is Go's for every number but those written in 'e' notation."""
    return json.dumps(go_values(value))


_LONG_DIGITS = re.compile(rb"[0-9]{16}").search


def _go_int(text: str) -> Union[int, float]:
    # Below 17 characters an integer is its own float64's shortest form; longer ones may not be.
    return int(text) if len(text) < 17 else go_number(int(text))


def loads_stored(text: Union[str, bytes]) -> Any:
    """A jsonb value read from PostgreSQL as listmonk reads it back into Go float64s: the integers PostgreSQL
    writes out in full for numbers Go wrote in 'e' notation (1e+21) come back as floats."""
    # Every subscriber a listing returns is decoded here: orjson, unless a run of 16 digits (a long integer, or
    # merely a long string or fraction) asks for the careful decoder.
    raw = text.encode() if isinstance(text, str) else text
    if _LONG_DIGITS(raw) is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text, parse_int=_go_int)
