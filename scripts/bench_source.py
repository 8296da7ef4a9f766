#!/usr/bin/env python3
"""Times `source-listmonk read` of `subscribers` (full refresh) and of `subscriptions` (incremental, nothing
changed since the previous read) against the local server seeded with N subscribers, against --url, or against
a replay server (--replay-server) that answers like a real listmonk in speed but costs next to no CPU.

    python scripts/bench_source.py --count 100000 [--page-size 1000,5000]
    python scripts/bench_source.py --replay-server --count 1000000 --page-size 5000 [--replay-seconds-per-5000 0.2]

Each read runs the console script in a child process with its output to a file, as Airbyte runs it (the
CDK serialising every message included); client CPU and peak RSS are the child's. On the local server the client
and the server (Python, over PostgreSQL) share the machine's cores and the server is the limit. The replay server
(scripts/replay_listmonk.py) serves pages generated from one subscriber row captured from the local server, each
after the time a real listmonk v6.2 takes (0.2 s per page of 5,000 by default), so the source's own ceiling shows.

The `subscriptions` baseline comes from a first incremental read with `start_date` in the future (it walks every
subscriber and saves the digests, emitting nothing); the second read, with nothing changed, is the one timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from replay_listmonk import SECONDS_PER_5000_ROWS, ReplayListmonk

SCRIPT = Path(sys.executable).with_name("source-listmonk")
# A realistic handful of attributes on the replayed subscriber.
TEMPLATE_ATTRIBS = {"city": "Lyon", "plan": "pro", "crm_id": 123456, "tags": ["news", "offers"]}


def catalog(stream: str, incremental: bool) -> dict[str, Any]:
    mode = "incremental" if incremental else "full_refresh"
    return {"streams": [{
        "stream": {"name": stream, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": mode, "destination_sync_mode": "append",
    }]}


def read(workdir: Path, cfg: dict[str, Any], stream: str, incremental: bool,
         state: Optional[list[Any]] = None) -> tuple[dict[str, Any], list[Any]]:
    """Runs one read; returns its figures and the last STATE messages it emitted (per stream)."""
    (workdir / "config.json").write_text(json.dumps(cfg))
    (workdir / "catalog.json").write_text(json.dumps(catalog(stream, incremental)))
    args = [str(SCRIPT), "read", "--config", str(workdir / "config.json"), "--catalog", str(workdir / "catalog.json")]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        args += ["--state", str(workdir / "state.json")]
    out = workdir / "out.jsonl"
    started = time.perf_counter()
    with open(out, "wb") as handle:
        child = subprocess.Popen(args, stdout=handle)
        # wait4: this child's own CPU and peak RSS (the local server's PostgreSQL is a child too).
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"source-listmonk read failed ({status}); output in {out}")
    records, states = 0, {}
    with open(out, "rb") as handle:
        for line in handle:
            message = json.loads(line)
            if message["type"] == "RECORD":
                records += 1
            elif message["type"] == "STATE":
                state = message["state"]
                states[json.dumps(state.get("stream", {}).get("stream_descriptor"))] = state
    figures = {"stream": stream, "incremental": incremental, "records": records, "wall_s": round(wall, 2),
               "rows_per_s": round(records / wall) if wall else 0,
               "client_cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024)}
    return figures, list(states.values())


def captured_template() -> dict[str, Any]:
    """One subscriber on both default lists, the lists and the API user's profile, as the local server answers."""
    from listmonk_client.client import ListmonkClient
    from listmonk_emulator import EmulatorServer

    with EmulatorServer() as server:
        server.seed(1, list_ids=(1, 2), attribs=TEMPLATE_ATTRIBS)
        with ListmonkClient(server.url, server.api_user, server.token) as client:
            page = client.request("GET", "/api/subscribers", params={"order_by": "id", "order": "desc", "per_page": 1})
            return {"subscriber": page["data"]["results"][0], "lists": client.request("GET", "/api/lists"),
                    "profile": client.request("GET", "/api/profile")}


@contextmanager
def target(args: argparse.Namespace) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, connection config) for the chosen server, running for the duration."""
    if args.url:
        yield "given server", {"url": args.url, "username": args.user, "token": args.token}
    elif args.replay_server:
        with ReplayListmonk(captured_template(), args.count, args.replay_seconds_per_5000) as replay:
            where = f"replay server, {args.replay_seconds_per_5000} s per 5,000 rows"
            yield where, {"url": replay.url, "username": "replay", "token": "replay"}
    else:
        from listmonk_emulator import EmulatorServer

        with EmulatorServer() as server:
            server.seed(args.count, list_ids=(1, 2))
            yield "local server", {"url": server.url, "username": server.api_user, "token": server.token}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000, help="subscribers seeded on the local server (or replayed)")
    parser.add_argument("--page-size", default="1000", help="comma-separated page sizes to compare")
    parser.add_argument("--reads", default="full,nochange",
                        help="comma-separated: full (subscribers, full refresh), nochange (subscriptions, incremental)")
    parser.add_argument("--replay-server", action="store_true", help="read from the replay server instead")
    parser.add_argument("--replay-seconds-per-5000", type=float, default=SECONDS_PER_5000_ROWS,
                        help="the replay server's time to answer a page, per 5,000 rows (scaled by page size)")
    parser.add_argument("--url", default=os.environ.get("LISTMONK_URL"))
    parser.add_argument("--user", default=os.environ.get("LISTMONK_USER"))
    parser.add_argument("--token", default=os.environ.get("LISTMONK_TOKEN"))
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.page_size.split(",")]
    reads = set(args.reads.split(","))
    rows = []
    with tempfile.TemporaryDirectory() as tmp, target(args) as (where, connection):
        workdir = Path(tmp)
        for size in sizes:
            cfg = {**connection, "page_size": size}
            if "full" in reads:
                figures, _ = read(workdir, cfg, "subscribers", incremental=False)
                rows.append({"where": where, "page_size": size, **figures})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            if "nochange" in reads:
                cfg = {**cfg, "lookback_seconds": 0}
                _, states = read(workdir, {**cfg, "start_date": "2999-01-01T00:00:00Z"}, "subscriptions", incremental=True)
                figures, _ = read(workdir, cfg, "subscriptions", incremental=True, state=states)
                rows.append({"where": where, "page_size": size, "read": "again, nothing changed", **figures})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print("| where | stream | mode | page size | records | wall s | rows/s | client CPU s | peak RSS MiB |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        mode = "incremental, nothing changed" if row.get("read") else ("incremental" if row["incremental"] else "full")
        print(f"| {row['where']} | {row['stream']} | {mode} | {row['page_size']:,} | {row['records']:,} | {row['wall_s']} | "
              f"{row['rows_per_s']:,} | {row['client_cpu_s']} | {row['peak_rss_mib']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
