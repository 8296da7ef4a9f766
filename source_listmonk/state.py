"""The streams' saved state: pydantic models and the pure transitions of one incremental read.

One read: `begin` fixes the high-water mark H0 (the newest change listmonk held when the read started),
`advance` records keyset progress after each page, `finish` moves the cursor to H0. An interrupted read
leaves `pending_high_water` set, so the next attempt resumes after `last_id` with the same cursor and H0.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal, Mapping, Optional

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer

from source_listmonk.timestamps import format_ts, later


class ReadState(BaseModel):
    """State of the `subscribers` stream (and the base of `subscriptions`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cursor: Optional[datetime] = None
    pending_high_water: Optional[datetime] = None
    last_id: int = Field(0, ge=0)

    @field_serializer("cursor", "pending_high_water")
    def _ts(self, value: Optional[datetime]) -> Optional[str]:
        return format_ts(value) if value is not None else None

    @property
    def in_progress(self) -> bool:
        return self.pending_high_water is not None


class SubscriptionsState(ReadState):
    """Adds one digest per range of subscriber ids (see digest.py); `baseline` once a full pass has finished.

    `digest_kind` is the row hash of the digests of ranges after `last_id` (a read in progress has already
    rewritten those before it in the current kind). States saved before it existed hold blake2b digests.
    """

    digests: dict[int, str] = Field(default_factory=dict)
    baseline: bool = False
    digest_kind: Literal["md5", "blake2b"] = "blake2b"


def load_state(model: type[ReadState], raw: Optional[Mapping[str, Any]]) -> Any:
    try:
        return model.model_validate(dict(raw or {}))
    except ValidationError as error:
        raise AirbyteTracedException(
            message="The saved state of a listmonk stream is unreadable; reset the stream to start over.",
            internal_message=str(error),
            failure_type=FailureType.config_error,
        ) from None


def dump_state(state: ReadState) -> dict[str, Any]:
    return state.model_dump(mode="json")


def begin(state: ReadState, high_water: Optional[datetime]) -> Any:
    """Start a read, or keep resuming the interrupted one (its H0 and position stay)."""
    if state.in_progress:
        return state
    # With no rows at all there is no H0; the cursor then stays where it was.
    return state.model_copy(update={"pending_high_water": later(state.cursor, high_water), "last_id": 0})


def cutoff(state: ReadState, lookback: timedelta, start_date: Optional[datetime]) -> Optional[datetime]:
    """Rows changed after this time are read; None reads everything."""
    if state.cursor is None:
        return start_date
    return state.cursor - lookback


def advance(state: ReadState, last_id: int, **changes: Any) -> Any:
    return state.model_copy(update={"last_id": max(state.last_id, last_id), **changes})


def finish(state: ReadState, **changes: Any) -> Any:
    cursor = later(state.cursor, state.pending_high_water)
    return state.model_copy(update={"cursor": cursor, "pending_high_water": None, "last_id": 0, **changes})
