"""destinationStats.recordCount of the STATE messages the destination passes on: the records of the STATE's
stream (all streams for a global or legacy STATE) received since the previous such STATE, counted the way the
CDK counts a source's sourceStats, so that Airbyte's platform can check one against the other. A STATE is only
passed on once every record before it is committed (written, found unchanged, or rejected into the audit)."""

from __future__ import annotations

from typing import Optional

from airbyte_cdk.models import AirbyteMessage, AirbyteStateStats, AirbyteStateType

StreamKey = tuple[Optional[str], str]


class StateRecordCounts:
    def __init__(self) -> None:
        # A plain dict: a Counter's `+= 1` costs twice as much, once per record.
        self._since_state: dict[StreamKey, int] = {}

    def record(self, key: StreamKey) -> None:
        """One more record of the stream (namespace, name)."""
        self._since_state[key] = self._since_state.get(key, 0) + 1

    def stamp(self, message: AirbyteMessage) -> None:
        state = message.state
        if state is None:
            return
        if state.type == AirbyteStateType.STREAM and state.stream is not None:
            descriptor = state.stream.stream_descriptor
            count = self._since_state.pop((descriptor.namespace, descriptor.name), 0)
        else:
            count = sum(self._since_state.values())
            self._since_state.clear()
        state.destinationStats = AirbyteStateStats(recordCount=float(count))
