"""A full read of 100,000 subscribers streams page by page: memory stays flat in the number of subscribers."""

from __future__ import annotations

import tracemalloc

from airbyte_cdk.models import Type

from listmonk_emulator import EmulatorServer

from source_harness import catalog, config, read_messages

COUNT = 100_000
# Holding the records would take far more than this (each is about 1 kB as Python objects);
# one 1,000-row page and the CDK's own buffers fit easily.
PEAK_BUDGET = 40 * 1024 * 1024


def test_given_100k_subscribers_when_read_in_full_then_each_comes_once_and_memory_stays_flat(
    emulator: EmulatorServer,
) -> None:
    emulator.seed(COUNT, list_ids=(1,))
    count, last_id = 0, 0
    tracemalloc.start()
    try:
        for message in read_messages(config(emulator), catalog("subscribers", incremental=False)):
            if message.type == Type.RECORD:
                record_id = message.record.data["id"]
                assert record_id > last_id
                last_id = record_id
                count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == COUNT + 2
    assert peak < PEAK_BUDGET, f"peak {peak / 2**20:.1f} MiB"
