"""The input staged in a forked reader process reaches the sync exactly as staging it in-process would: the same
records mapped, the same rejections, the same STATEs with the same counts, in the same order. A child that fails
or dies fails the sync, and a sync that stops early leaves no child behind."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from airbyte_cdk.models import (
    AirbyteMessage, AirbyteMessageSerializer, AirbyteStream, ConfiguredAirbyteCatalog, ConfiguredAirbyteStream,
    DestinationSyncMode, SyncMode,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from hypothesis import example, given, settings
from hypothesis import strategies as st

from destination_listmonk.activation import Routes, stream_settings
from destination_listmonk.config import DestinationConfig
from destination_listmonk.input_messages import read_messages
from destination_listmonk.lists import ListDirectory
from destination_listmonk.mapping import Desired, Rejected
from destination_listmonk.protection import Rules
from destination_listmonk.reader_process import BATCH, usable_cores, read_in_child
from destination_listmonk.staging import stage
from listmonk_client.models import MailingList


def routes(**mapping: Any) -> Routes:
    config = DestinationConfig.model_validate({
        "url": "http://listmonk.invalid", "username": "u", "token": "t",
        "mapping": {"name_field": "name", "status_field": "status", "lists_field": "lists", **mapping},
    })
    catalog = ConfiguredAirbyteCatalog(streams=[ConfiguredAirbyteStream(
        stream=AirbyteStream(name="c", json_schema={}, supported_sync_modes=[SyncMode.full_refresh]),
        sync_mode=SyncMode.full_refresh, destination_sync_mode=DestinationSyncMode.append)])
    config, streams = stream_settings(config, catalog)
    directory = ListDirectory([MailingList(id=1, name="news"), MailingList(id=2, name="offers")])
    return Routes(config, streams, directory, Rules.from_config(config, [], supports_patch=True))


def record(data: dict[str, Any], stream: str = "c") -> bytes:
    return json.dumps({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 0}}).encode()


def state(marker: int, stream: str = "c") -> bytes:
    return json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": {
        "stream_descriptor": {"name": stream}, "stream_state": {"marker": marker}}}}).encode()


def comparable(items: list[Any]) -> list[Any]:
    return [AirbyteMessageSerializer.dump(i) if isinstance(i, AirbyteMessage) else i for i in items]


@contextmanager
def input_file(lines: list[bytes]) -> Iterator[int]:
    with tempfile.TemporaryFile() as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
        handle.seek(0)
        yield handle.fileno()


def staged_by_child(lines: list[bytes], given_routes: Routes) -> list[Any]:
    with input_file(lines) as fd, read_in_child(fd, given_routes) as reader:
        return list(reader)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**64 - 1) | st.floats(allow_nan=False,
                                                                                            allow_infinity=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
list_refs = st.sampled_from([
    "news", "offers", 1, 2, "2", "missing", 7, None, {"name": "news"},
    {"id": 2, "subscription_status": "unsubscribed"}, {"name": "news", "subscription_status": "x"},
])
data = st.fixed_dictionaries(
    {"email": st.sampled_from(["a@example.com", " B@Example.com ", "not-an-email", 5, None])},
    optional={
        "name": st.text(max_size=6) | st.integers() | st.none() | st.just({"first": "x"}),
        "status": st.sampled_from(["enabled", "Blocklisted", "unknown", None]),
        "lists": st.lists(list_refs, max_size=3) | st.just("news, offers") | st.just(3),
        "plan": json_values, "nested": json_values, "_ab_cdc_deleted_at": st.sampled_from([None, "2026-01-01"]),
    },
)
lines = st.one_of(
    data.map(record),
    data.map(lambda d: record(d, stream="elsewhere")),
    st.integers(min_value=0, max_value=9).map(state),
    st.integers(min_value=0, max_value=9).map(lambda m: state(m, stream="elsewhere")),
    st.sampled_from([b"not json", b'{"type": "RECORD"}', b"\xff\xfe", b"", b'{"type": "LOG", "log": '
                                                                           b'{"level": "INFO", "message": "m"}}']),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(lines, max_size=25))
@example([record({"email": f"c{i}@example.com", "name": f"C {i}", "lists": ["news"]}) for i in range(BATCH * 2 + 3)]
         + [state(1)])
@example([record({"email": "a@example.com", "lists": ["news", {"id": 2, "subscription_status": "unsubscribed"}]}),
          record({"email": "b@example.com", "plan": {"tiers": [1, 2.5, None, True]}}), b"not json", state(2)])
def test_given_any_input_then_the_child_stages_it_exactly_as_the_sync_would(given_lines: list[bytes]) -> None:
    mapped = routes()
    in_process = list(stage(read_messages(given_lines), mapped))

    assert comparable(staged_by_child(given_lines, mapped)) == comparable(in_process)


@contextmanager
def failing_after(seconds: int) -> Iterator[None]:
    """Raises in the test, rather than hanging it, if what it waits for never comes."""
    def give_up(*_: Any) -> None:
        raise TimeoutError(f"nothing came within {seconds} s")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_given_a_state_then_it_reaches_the_sync_while_the_input_is_still_open() -> None:
    # The source may pause after a STATE: the sync must see it without waiting for a batch to fill.
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, record({"email": "a@example.com"}) + b"\n" + state(1) + b"\n")
        with read_in_child(read_end, routes()) as reader, failing_after(10):
            items = iter(reader)
            desired, message = next(items), next(items)
            assert isinstance(desired, Desired) and desired.email == "a@example.com"
            assert isinstance(message, AirbyteMessage) and message.state is not None
            assert message.state.destinationStats is not None and message.state.destinationStats.recordCount == 1
    finally:
        os.close(write_end)
        os.close(read_end)


class Exploding(Routes):
    def __init__(self, base: Routes, at: str, how: str) -> None:
        self.__dict__.update(base.__dict__)
        self._at, self._how = at, how

    def mapper_of(self, namespace: str | None, stream: str) -> Callable[[Any, int], Desired | Rejected]:
        mapper = super().mapper_of(namespace, stream)

        def exploding(data: Any, position: int) -> Desired | Rejected:
            if data.get("email") == self._at:
                if self._how == "raise":
                    raise RuntimeError("mapping broke")
                os.kill(os.getpid(), signal.SIGKILL)
            return mapper(data, position)

        return exploding


@pytest.mark.parametrize("how, reason", [("raise", "RuntimeError: mapping broke"),
                                         ("die", "it ended before the input did")])
def test_given_the_child_fails_midway_then_the_sync_gets_what_came_before_and_then_a_failure(
    how: str, reason: str
) -> None:
    given_lines = [record({"email": "a@example.com"}), state(1), record({"email": "boom@example.com"}),
                   record({"email": "c@example.com"})]
    received: list[Any] = []

    with pytest.raises(AirbyteTracedException) as failure:
        with input_file(given_lines) as fd, read_in_child(fd, Exploding(routes(), "boom@example.com", how)) as reader:
            for item in reader:
                received.append(item)

    assert reason in str(failure.value.internal_message)
    assert [type(item).__name__ for item in received] == ["Desired", "AirbyteMessage"]


def test_given_the_sync_stops_early_then_the_child_is_ended_and_reaped() -> None:
    read_end, write_end = os.pipe()  # an input that never ends: the child would wait on it forever
    try:
        os.write(write_end, record({"email": "a@example.com"}) + b"\n" + state(1) + b"\n")
        with read_in_child(read_end, routes()) as reader:
            next(iter(reader))
            pid = reader.pid
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # not a child any more: killed and reaped
    finally:
        os.close(write_end)
        os.close(read_end)


def test_given_a_long_input_then_the_child_reads_ahead_of_the_sync_by_at_most_the_pipe() -> None:
    given_lines = [record({"email": f"c{i}@example.com", "plan": "x" * 200}) for i in range(40_000)]
    with input_file(given_lines) as fd, read_in_child(fd, routes()) as reader:
        items = iter(reader)
        next(items)
        time.sleep(1.0)  # the child stages as far as it can
        with open(f"/proc/{reader.pid}/fdinfo/{fd}") as info:
            offset = int(info.readline().split()[1])
    # It stopped, blocked on the full pipe, long before the input's end (about 10 MB).
    assert offset < sum(len(line) + 1 for line in given_lines) / 2


@pytest.mark.parametrize("files, expected", [
    ({}, "all"),
    ({"cpu.max": "max 100000\n"}, "all"),
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, "all"),
    ({"cpu.max": "garbage\n"}, "all"),
])
def test_given_a_container_cpu_quota_then_the_cores_counted_are_capped_by_it(
    tmp_path: Any, files: dict[str, str], expected: Any
) -> None:
    # Under a quota of 1.5 CPUs (a Kubernetes limit) a reader process would mostly take turns with the sync.
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    every = len(os.sched_getaffinity(0))

    assert usable_cores(str(tmp_path)) == (every if expected == "all" else min(every, expected))
