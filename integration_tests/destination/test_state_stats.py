"""STATE messages the destination passes on carry destinationStats.recordCount: the records committed since the
previous STATE of the same stream (of any stream, for a global STATE), which Airbyte's platform checks against the
source's count for the same STATE."""

from __future__ import annotations

import random
from typing import Any, Iterator, Optional

from airbyte_cdk.models import (
    AirbyteGlobalState,
    AirbyteMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateStats,
    AirbyteStateType,
    AirbyteStream,
    AirbyteStreamState,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    DestinationSyncMode,
    StreamDescriptor,
    SyncMode,
    Type,
)

from integration_tests.destination.harness import config, record, subscribers_of, write
from listmonk_client.client import ListmonkClient

STREAMS = ("contacts", "leads")


def two_streams() -> ConfiguredAirbyteCatalog:
    return ConfiguredAirbyteCatalog(
        streams=[
            ConfiguredAirbyteStream(
                stream=AirbyteStream(name=name, json_schema={"type": "object"}, supported_sync_modes=[SyncMode.full_refresh]),
                sync_mode=SyncMode.full_refresh,
                destination_sync_mode=DestinationSyncMode.append_dedup,
            )
            for name in STREAMS
        ]
    )


def stream_state(stream: str, marker: int, source_count: float) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.STATE,
        state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name=stream), stream_state=AirbyteStateBlob(marker=marker)),
            sourceStats=AirbyteStateStats(recordCount=source_count),
        ),
    )


def global_state(marker: int, source_count: float) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.STATE,
        state=AirbyteStateMessage(
            type=AirbyteStateType.GLOBAL,
            global_=AirbyteGlobalState(
                shared_state=AirbyteStateBlob(marker=marker),
                stream_states=[
                    AirbyteStreamState(stream_descriptor=StreamDescriptor(name=name), stream_state=AirbyteStateBlob(marker=marker))
                    for name in STREAMS
                ],
            ),
            sourceStats=AirbyteStateStats(recordCount=source_count),
        ),
    )


def interleaved(domain: str, total: int, per_stream_states: bool, bad_every: int) -> Iterator[AirbyteMessage]:
    """Records of two streams in a shuffled order, some without an email (rejected), with STATEs at irregular
    points, each carrying the source's count as the CDK sets it (records of its stream since its previous STATE)."""
    draw = random.Random(15)
    since: dict[Optional[str], int] = {name: 0 for name in STREAMS}
    for i in range(total):
        stream = draw.choice(STREAMS)
        data: dict[str, Any] = {"email": f"s{i}@{domain}", "name": f"Person {i}"}
        if i % bad_every == 0:
            data = {"name": f"No email {i}"}
        yield record(data, stream=stream)
        since[stream] += 1
        if draw.random() < 0.01 or i == total - 1:
            if per_stream_states:
                for name in STREAMS:
                    yield stream_state(name, i, float(since[name]))
                    since[name] = 0
            else:
                yield global_state(i, float(sum(since.values())))
                since = {name: 0 for name in STREAMS}


def passed_on(messages: list[AirbyteMessage]) -> list[AirbyteStateMessage]:
    return [m.state for m in messages if m.type == Type.STATE and m.state is not None]


def test_given_per_stream_states_then_each_carries_the_records_of_its_stream_committed_since_the_last(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    total, bad_every = 3000, 97
    settings = config(listmonk, advanced={"batch_size": 250})  # bulk imports run while later STATEs arrive

    run = write(settings, interleaved(domain, total, per_stream_states=True, bad_every=bad_every), two_streams())

    states = passed_on(run.messages)
    assert len(states) > 2 * len(STREAMS)
    for state in states:
        assert state.destinationStats is not None
        assert state.destinationStats.recordCount == state.sourceStats.recordCount, state.stream.stream_descriptor.name
    assert sum(s.destinationStats.recordCount for s in states) == total
    rejected = len(range(0, total, bad_every))
    assert run.summary["rejected"] == rejected
    assert len(subscribers_of(client, domain)) == total - rejected


def test_given_global_states_then_each_carries_every_record_committed_since_the_last(
    listmonk: Any, client: ListmonkClient, domain: str
) -> None:
    total = 2000
    run = write(config(listmonk), interleaved(domain, total, per_stream_states=False, bad_every=10**9), two_streams())

    states = passed_on(run.messages)
    assert [s.type for s in states] == [AirbyteStateType.GLOBAL] * len(states)
    assert [s.destinationStats.recordCount for s in states] == [s.sourceStats.recordCount for s in states]
    assert sum(s.destinationStats.recordCount for s in states) == total
    assert len(subscribers_of(client, domain)) == total - 1  # record 0 has no email
