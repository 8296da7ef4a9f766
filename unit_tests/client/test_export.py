"""The CSV export, read in large blocks: the same lines, hence the same rows, as reading it through
io.TextIOWrapper(newline="") line by line, wherever the blocks happen to be cut."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from listmonk_client import ListmonkClient, ListmonkError
from listmonk_client import client as client_module
from listmonk_client.errors import ConnectionFailed

from .fake_server import FakeListmonk, Reply

PATH = "/api/subscribers/export"
HEADER = "uuid,email,name,attributes,status,created_at,updated_at"


class Chunked:
    """A response whose body arrives in the given pieces."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self._pieces = pieces

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        return iter(self._pieces)


def pieces(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def block_lines(data: bytes, cuts: Sequence[int]) -> list[str]:
    blocks = client_module._export_line_blocks(Chunked(pieces(data, cuts)))  # type: ignore[arg-type]
    return list(itertools.chain.from_iterable(blocks))


def file_lines(data: bytes) -> list[str]:
    """How export_subscribers read the export before it read blocks."""
    return list(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=""))


def file_rows(data: bytes, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """export_subscribers's rows, read the way it used to."""
    rows = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=""))
    header = next(rows)
    indexes = [header.index(name) for name in columns]
    return [tuple(row[i] if i < len(row) else None for i in indexes) for row in rows if row]


# Every line end csv knows (\r, \n, \r\n), characters str.splitlines would also cut at but a file does not
# (\v, \f, \x1c-\x1e, \x85, \u2028, \u2029), CSV's quote and separator, and characters of 2, 3 and 4 UTF-8 bytes.
AWKWARD = st.text(alphabet="a,\"\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029\u00e9\u65e5\U0001f600", max_size=60)


@settings(max_examples=500)
@given(AWKWARD, st.lists(st.integers(0, 400), max_size=12))
def test_property_any_text_cut_anywhere_reads_as_the_lines_of_a_file(text: str, cuts: list[int]) -> None:
    data = text.encode()
    assert block_lines(data, cuts) == file_lines(data)


def test_a_cr_lf_cut_between_two_blocks_stays_one_line_end() -> None:
    data = b"a,b\r\nc,d\r\n"
    assert block_lines(data, [4]) == ["a,b\r\n", "c,d\r\n"]
    assert block_lines(b"a\rb\rc\r", [1, 2, 5]) == ["a\r", "b\r", "c\r"]  # a file ending lines with \r only


def test_a_character_cut_between_two_blocks_is_read_whole_and_a_broken_one_fails_as_before() -> None:
    data = "n\u00e9,\U0001f600\n".encode()
    assert block_lines(data, range(len(data))) == ["n\u00e9,\U0001f600\n"]
    for broken in (b"a\xff\n", "\u00e9".encode()[:1]):
        with pytest.raises(UnicodeDecodeError):
            block_lines(broken, [])
        with pytest.raises(UnicodeDecodeError):
            file_lines(broken)


def export_body(rows: int = 300) -> bytes:
    lines = [HEADER + "\r\n"]
    for i in range(rows):
        name = ["Ann", '"Doe, J\u00f6hn"', '"two\r\nlines"', '"a\rb\nc"', "\u65e5\u672c\U0001f600", ""][i % 6]
        attributes = ['"{""n"": 1}"', "{}", '"{""note"": ""x\ny""}"'][i % 3]
        lines.append(f"u{i},p{i}@example.com,{name},{attributes},enabled,t1,t2" + ("\n" if i % 2 else "\r\n"))
        if i % 50 == 0:
            lines.append("\n")  # a blank line: no row
    lines.append("u-short,short@example.com,Cy")  # cut short, and no line end at all
    return "".join(lines).encode()


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 16])
def test_export_rows_are_the_same_whatever_the_block_size(
    server: FakeListmonk, client: ListmonkClient, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(client_module, "_EXPORT_BLOCK", block)
    body = export_body()
    server.script("GET", PATH, Reply(body=body))
    columns = ("email", "name", "attributes", "status")

    rows = list(client.export_subscribers(columns))

    assert rows == file_rows(body, columns)
    assert len(rows) == 301 and rows[2] == ("p2@example.com", "two\r\nlines", '{"note": "x\ny"}', "enabled")
    assert rows[-1] == ("short@example.com", "Cy", None, None)


def test_a_gzipped_export_is_read_as_plain_text(server: FakeListmonk, client: ListmonkClient) -> None:
    body = export_body(2000)
    server.script("GET", PATH, Reply(body=gzip.compress(body), headers={"Content-Encoding": "gzip"}))

    assert list(client.export_subscribers(("email", "name"))) == file_rows(body, ("email", "name"))


@pytest.mark.parametrize("sent", [0, 10, 100_000], ids=["nothing", "within the header", "within the rows"])
def test_an_export_that_breaks_off_fails_as_a_connection_failure(
    server: FakeListmonk, client: ListmonkClient, sent: int
) -> None:
    server.script("GET", PATH, Reply(body=export_body(5000), cut_after=sent))

    with pytest.raises(ConnectionFailed, match="export stream broke off"):
        list(client.export_subscribers(("email",)))


def test_the_export_stream_is_closed_however_the_reading_ends(
    server: FakeListmonk, client: ListmonkClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    responses: list[requests.Response] = []
    send = client._transport.send

    def recording_send(*args: Any, **kwargs: Any) -> requests.Response:
        responses.append(send(*args, **kwargs))
        return responses[-1]

    monkeypatch.setattr(client._transport, "send", recording_send)
    server.script("GET", PATH, Reply(body=export_body(5000)))

    rows = client.export_subscribers(("email",))
    assert next(rows) == ("p0@example.com",)
    rows.close()  # the reader stops early
    with pytest.raises(ListmonkError, match="no nickname column"):
        list(client.export_subscribers(("nickname",)))

    assert len(responses) == 2 and all(response.raw.closed for response in responses)



def go_csv_field(value: str) -> str:
    """A field as Go's encoding/csv Writer (listmonk's export) writes it."""
    if value == "\\." or any(c in value for c in ',"\r\n') or value[:1].isspace():
        return '"' + value.replace('"', '""') + '"'
    return value


@pytest.mark.parametrize("block", [7, 1 << 16])
def test_fields_of_any_size_and_text_listmonk_holds_are_read_whole(
    server: FakeListmonk, client: ListmonkClient, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(client_module, "_EXPORT_BLOCK", block)
    huge = '{"blob": "' + "x\u05d0\U0001f600" * 300_000 + '"}'  # about 2 MB of one line, far past csv's 128 KiB
    rows = [
        ("big@example.com", "Big", huge),
        ("multi@example.com", 'Line one\r\nline "two", end', '{"note": "a\\nb", "q": "\\"quoted\\""}'),
        ("rtl@example.com", " \u05e9\u05dc\u05d5\u05dd \U0001f469\u200d\U0001f4bb", '{"\u05e2\u05d9\u05e8": "\u0645\u0631\u062d\u0628\u0627"}'),
        ("dot@example.com", "\\.", "{}"),
    ]
    lines = [HEADER]
    for i, (email, name, attributes) in enumerate(rows):
        lines.append(",".join([f"u{i}", email, go_csv_field(name), go_csv_field(attributes), "enabled", "t1", "t2"]))
    server.script("GET", PATH, Reply(body=("\n".join(lines) + "\n").encode()))

    got = list(client.export_subscribers(("email", "name", "attributes", "status")))

    assert got == [(*row, "enabled") for row in rows]
